"""`explain`: which file, config-group option or command-line override set a resolved value.

Hydra merges the defaults list in order, then the overrides. We ask Hydra for that defaults list
(ConfigLoader.compute_defaults_list, the list `compose` itself uses), read each file, and the last one
that sets the key wins; a command-line override of the key (or of a parent) beats every file; no setter
means the schema default (spec.py), or for a checkpoint path the value derived from the others (ckpt_paths.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from recipe_runner.ckpt_paths import FIELDS as CHECKPOINT_FIELDS
from recipe_runner.ckpt_paths import derive
from recipe_runner.compose import _did_you_mean, find_recipe, flatten_keys, hydra_inputs
from recipe_runner.errors import user_error
from recipe_runner.resolve import resolve
from recipe_runner.torch_dist import layout


@dataclass(frozen=True)
class Explanation:
    key: str
    value: object
    setter: str  # "override `k=v`", "group option model=qwen3-4b (recipes/model/qwen3-4b.yaml)", ...
    chain: tuple[str, ...]  # every file that sets the key, in merge order

    def text(self) -> str:
        lines = [f"{self.key} = {self.value!r}", f"set by: {self.setter}"]
        lines += [f"  also in (overridden): {c}" for c in self.chain if c != self.setter]
        return "\n".join(lines) + "\n"


def explain(name: str, key: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None
            ) -> Explanation:
    resolved = resolve(name, overrides, recipes_dir)
    data = resolved.recipe.model_dump(mode="json")
    value = lookup(data, key)
    files = [f"{label} ({path})" for label, path, tree in _sources(name, list(overrides), recipes_dir)
             if _has(tree, key)]
    cli = [o for o in overrides if _override_key(o) and (key == _override_key(o)
                                                          or key.startswith(_override_key(o) + "."))]
    field = key.removeprefix("checkpoints.")
    if value is None and key.startswith("checkpoints.") and field in CHECKPOINT_FIELDS:
        # unset by every file, or cleared by an override (`~checkpoints.save`, `checkpoints.save=null`): derived
        paths = derive(resolved.recipe, resolved.shape.config)
        value, setter = paths.value(field), paths.origins[field]
    elif value is None and key == "checkpoints.torch_dist_nodes":
        where = layout(resolved)
        value = where.nnodes
        setter = (f"derived: the fewest of cluster.nodes whose GPUs hold the BF16 weights ({where.nnodes} x "
                  f"{where.nproc_per_node} processes, about {where.gb_per_gpu:.0f} GB per GPU; "
                  "recipe_runner/torch_dist.py)")
    elif cli:
        setter = f"command-line override `{cli[-1]}`"
    elif files:
        setter = files[-1]
    else:
        setter = "the schema default (recipe_runner/spec.py)"
    return Explanation(key, value, setter, tuple(files))


def lookup(data: dict, key: str) -> object:
    """The value at dotted `key`; an unknown key is a UserError with did-you-mean."""
    node: object = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            hint = _did_you_mean(key, flatten_keys(data)) or "run `recipe-runner show RECIPE` to see the fields"
            raise user_error(key, "no such field in the resolved recipe", hint=hint)
        node = node[part]
    return node


def _sources(name: str, overrides: list[str], recipes_dir: str | None) -> list[tuple[str, Path, dict]]:
    """(label, file, tree under its package) of every recipe file Hydra merges, in merge order."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode

    source = find_recipe(name, recipes_dir)
    groups = [o for o in overrides if "=" in o and "." not in o.split("=", 1)[0].lstrip("+~")]
    with hydra_inputs(source, groups) as (config_name, hydra_overrides):
        defaults = GlobalHydra.instance().config_loader().compute_defaults_list(
            config_name, hydra_overrides, run_mode=RunMode.RUN).defaults
    out = []
    for d in defaults:
        if d.config_path is None or d.config_path.startswith("hydra/") or d.package == "hydra":
            continue
        path = next((p for p in (x / f"{d.config_path}.yaml" for x in source.dirs) if p.is_file()), None)
        if path is None:
            continue
        tree = yaml.safe_load(path.read_text()) or {}
        tree.pop("defaults", None)
        for part in reversed([p for p in (d.package or "").split(".") if p]):
            tree = {part: tree}
        group = d.config_path.split("/")[0] if "/" in d.config_path else ""
        label = f"group option {group}={d.config_path.split('/', 1)[1]}" if group else f"recipe {d.config_path}"
        out.append((label, path, tree))
    return out


def _has(tree: dict, key: str) -> bool:
    node: object = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _override_key(o: str) -> str:
    if "=" not in o or o.startswith("~"):
        return ""
    key = o.split("=", 1)[0].lstrip("+")
    return key if "." in key else ""
