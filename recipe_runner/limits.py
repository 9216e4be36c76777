"""Input limits, checked before any work starts: a recipe file's size and its YAML alias expansion.

A 313-byte file of nested YAML anchors expands to millions of nodes when OmegaConf copies each alias,
and nested ${key} interpolations do the same when resolved; a 50 MB file is no recipe. All are refused
(exit 2) after a linear-time look. The sweep
run-count bound lives here too, so every limit is in one table.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import yaml

from recipe_runner.errors import user_error

MAX_RECIPE_BYTES = 1 << 20  # 1 MiB: the largest shipped recipe file is under 2 KiB
MAX_YAML_NODES = 100_000  # nodes after alias expansion: a recipe has a few hundred
MAX_SWEEP_RUNS = 1000  # combinations in one sweep
MAX_RESOLVED_SIZE = 1_000_000  # nodes + characters of a composed recipe once ${...} are resolved
MAX_CONFIG_BYTES = 4 << 20  # a model config.json: the largest real one (Kimi-K2.5) is a few KiB


def check_file(path: Path) -> None:
    """A recipe file must be a readable regular file within the size and alias-expansion bounds."""
    try:
        st = os.stat(path)
    except OSError as e:
        what = "a symlink that loops or points nowhere" if os.path.islink(path) else e.strerror
        raise _bad(path, f"cannot be opened: {what}", "point it at a recipe file, or remove it") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, socket or device)"
        raise _bad(path, f"is {kind}", f"a recipe is a regular <name>.yaml file; rename or remove {path.name}")
    if st.st_size > MAX_RECIPE_BYTES:
        raise _bad(path, f"is {st.st_size} bytes, over the {MAX_RECIPE_BYTES}-byte limit for a recipe file",
                   "a recipe is a short YAML mapping; keep data out of it")
    try:
        text = path.read_bytes()[: MAX_RECIPE_BYTES + 1].decode("utf-8")
    except OSError as e:
        raise _bad(path, f"cannot be read: {e.strerror}", "fix its permissions (chmod u+r)") from None
    except UnicodeDecodeError:
        raise _bad(path, "is not UTF-8 text", "save it as UTF-8 YAML") from None
    nodes = expanded_nodes(text)
    if nodes > MAX_YAML_NODES:
        raise _bad(path, f"expands to over {MAX_YAML_NODES} YAML nodes through anchors and aliases",
                   "write the values out instead of nesting aliases (&a / *a)")


def check_tree(root: Path) -> None:
    """check_file for every YAML file of a user's recipes dir: its recipes and its group options."""
    for path in sorted([*root.glob("*.yaml"), *root.glob("*/*.yaml")]):
        if path.is_file():
            check_file(path)


def expanded_nodes(text: str) -> int:
    """Nodes of the YAML as a loader expands it (each alias a full copy); linear in the file size.

    A file that does not parse counts 0: Hydra reports the syntax error with its line."""
    if "*" not in text:  # no alias, no expansion: nodes are bounded by the file size
        return 0
    try:
        docs = list(yaml.compose_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError:
        return 0
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) not in sizes:
            sizes[id(node)] = MAX_YAML_NODES + 1  # a recursive alias is refused too
            if isinstance(node, yaml.MappingNode):
                n = 1 + sum(size(k) + size(v) for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                n = 1 + sum(size(v) for v in node.value)
            else:
                n = 1
            sizes[id(node)] = min(n, MAX_YAML_NODES + 1)
        return sizes[id(node)]

    return sum(size(d) for d in docs if d is not None)


INTERPOLATION = re.compile(r"\$\{([A-Za-z_][\w-]*(?:\.[\w-]+)*)\}")  # ${a.b.c}: a key; resolvers are not


def check_resolved_size(tree: object, where: str) -> None:
    """Refuse a composed (unresolved) recipe whose ${key} interpolations would resolve to a huge tree.

    `b: [${a}, ${a}]` copies `a` twice; nine such levels are a billion nodes. The size is counted with one
    memo per key, so this takes time linear in the tree, whatever the expansion."""
    memo: dict[str, int] = {}

    def at(key: str) -> int:
        if key not in memo:
            memo[key] = MAX_RESOLVED_SIZE + 1  # a key that refers to itself is refused too
            node: object = tree
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            memo[key] = size(node)
        return memo[key]

    def size(node: object) -> int:
        if isinstance(node, dict):
            n = 1 + sum(size(v) for v in node.values())
        elif isinstance(node, list):
            n = 1 + sum(size(v) for v in node)
        elif isinstance(node, str):
            n = len(INTERPOLATION.sub("", node)) + sum(at(k) for k in INTERPOLATION.findall(node))
        else:
            n = 1
        return min(n, MAX_RESOLVED_SIZE + 1)

    if size(tree) > MAX_RESOLVED_SIZE:
        raise user_error(where, f"its ${{...}} interpolations resolve to over {MAX_RESOLVED_SIZE} nodes and "
                         "characters", rule="a resolved recipe is a few thousand values",
                         hint="interpolate values, not lists or mappings that themselves interpolate others",
                         title="invalid recipe")


def check_sweep_size(runs: int) -> None:
    if runs > MAX_SWEEP_RUNS:
        raise user_error("overrides", f"the sweep has {runs} combinations, over the limit of {MAX_SWEEP_RUNS}",
                         rule="a sweep plans every combination before anything runs",
                         hint="sweep fewer values (a coarser range step), or split it into several sweeps",
                         title="sweep too large")


def _bad(path: Path, message: str, hint: str):
    return user_error(str(path), message, rule="recipe files are regular, readable UTF-8 YAML files of at most "
                      f"{MAX_RECIPE_BYTES} bytes whose aliases expand to at most {MAX_YAML_NODES} nodes", hint=hint,
                      title="invalid recipe file")
