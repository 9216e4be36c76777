"""The package's import graph, read from the source with `ast`: no cycles, and every import inside a function
is a documented lazy import.

A cycle makes a module's meaning depend on which of its partners was imported first; an import tucked into
a function to dodge one hides it. Imports inside functions are kept only where they keep a heavy package
(torch, ray, wandb, Hydra, ...) or a heavy corner of our own off a path that does not need it.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "recipe_runner"

# Third-party packages imported only inside the functions that need them (the `convert`, `launch`, `track`
# extras, the slime stack, and Hydra, which a compose-cache hit never loads). Anywhere in the package.
HEAVY = {
    "torch": "the `convert` extra; plan/validate never load it",
    "numpy": "the converter's CPU engine; the converter's start-up and `inspect` do without it",
    "safetensors": "the `convert` extra",
    "compressed_tensors": "the reference implementation verify compares against (test extra)",
    "transformers": "the reference implementation verify compares against (test extra)",
    "ray": "the `launch` extra; plan/validate never load it",
    "wandb": "the `track` extra",
    "google": "protobuf, which comes with wandb",
    "matplotlib": "the `track` extra, for --plot only",
    "hydra": "composing a recipe; a compose-cache hit and the converter never load it",
    "omegaconf": "composing a recipe; a compose-cache hit and the converter never load it",
    "megatron": "slime's stack on the target node (doctor)",
    "slime": "slime's stack on the target node (doctor)",
}

# Modules of ours that import a HEAVY package at their top: imported lazily from anywhere, for that reason.
HEAVY_OURS = {
    "recipe_runner.quant.fp8": "torch",
    "recipe_runner.quant.int4": "torch",
    "recipe_runner.quant.torch_stream": "torch",
    "recipe_runner.quant.stream": "numpy (the CPU engine's kernels)",
    "recipe_runner.quant.dequant_stream": "numpy (the `convert bf16` engines' kernels)",
    "recipe_runner.quant.verify": "numpy",
}

# (importing module, imported module or package) -> why the import waits for the function that needs it.
LAZY = {
    ("recipe_runner.cli", "recipe_runner.cli"): "the light-CLI dispatch: the recipe-side command groups load "
    "Hydra, pydantic and the plan, which `convert`, `verify` and `inspect` must not pay for",
    ("recipe_runner.doctor", "recipe_runner"): "doctor's source is shipped alone to the cluster as a Ray job, "
    "where recipe-runner may not be installed: stdlib-only at import",
    ("recipe_runner.launch", "recipe_runner.quant"): "the converter runs only for a plan with a convert step; "
    "its modules stay off the plan path",
}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # the module itself when it is one of ours, else the dotted name as written
    line: int
    in_function: bool


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, importer: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = importer.split(".") if MODULES[importer].name == "__init__.py" else importer.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    # `from pkg import mod` imports the module pkg.mod; `from mod import name` imports mod
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _is_type_checking(test: ast.expr) -> bool:
    return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING" or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(module: str) -> list[Import]:
    """Every runtime import of `module` (not those under `if TYPE_CHECKING:`), marked in-function or not."""
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for n in child.orelse:
                    visit(n, in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend(Import(module, t, child.lineno, in_function) for t in _targets(child, module))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(MODULES[module].read_text()), False)
    return found


ALL = [i for m in MODULES for i in imports(m)]


def ours(name: str) -> str | None:
    """The module of ours that `name` is, or is inside of (`recipe_runner.x.y` -> `recipe_runner.x`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name if name.startswith("recipe_runner") else None


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), and modules importing themselves."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges.get(v, ()):
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def test_the_package_has_no_import_cycles() -> None:
    """Counting imports inside functions too: a lazy import that closes a loop is still a loop."""
    edges: dict[str, set[str]] = {}
    for i in ALL:
        target = ours(i.imported)
        if target and target != i.importer:
            edges.setdefault(i.importer, set()).add(target)
    assert cycles(edges) == []


def test_every_import_inside_a_function_is_a_documented_lazy_import() -> None:
    undocumented = []
    for i in ALL:
        if not i.in_function:
            continue
        target = ours(i.imported)
        if target is None:
            if i.imported.split(".")[0] not in HEAVY:
                continue  # the standard library or a light package: not this test's business
            documented = True
        else:
            documented = target in HEAVY_OURS or any(i.importer == importer and _within(target, lazy)
                                                     for importer, lazy in LAZY)
        if not documented:
            undocumented.append(f"{MODULES[i.importer].relative_to(PACKAGE.parent)}:{i.line}: {i.imported}")
    assert undocumented == [], "import at the top, or add it to LAZY with the reason it waits"


def test_every_lazy_import_documented_is_still_there() -> None:
    """The allowlist stays small: an entry no import uses any more is removed with it."""
    used = {(importer, lazy) for i in ALL if i.in_function and (t := ours(i.imported))
            for importer, lazy in LAZY if i.importer == importer and _within(t, lazy)}
    assert set(LAZY) - used == set(), "no import needs these LAZY entries any more: remove them"


def test_the_heavy_modules_of_ours_are_heavy() -> None:
    """HEAVY_OURS holds only modules that do load a HEAVY package when imported (directly or through ours)."""
    def heavy(module: str, seen: set[str]) -> bool:
        seen.add(module)
        top = [i.imported for i in imports(module) if not i.in_function]
        return any(t.split(".")[0] in HEAVY for t in top) or any(
            heavy(m, seen) for t in top if (m := ours(t)) and m not in seen)

    assert [m for m in HEAVY_OURS if not heavy(m, set())] == []


# The stages a command reaches only through api.py: a CLI file that imports one is doing the library's work.
PIPELINE = ("recipe_runner.compose", "recipe_runner.resolve", "recipe_runner.checks", "recipe_runner.plan",
            "recipe_runner.pipeline", "recipe_runner.launch")


def test_the_cli_is_a_thin_layer_on_top() -> None:
    """cli/ reaches the pipeline only through api; nothing below imports cli/ (but the LAZY entries above)."""
    through = [f"{i.importer} -> {t}" for i in ALL if i.importer.startswith("recipe_runner.cli")
               and (t := ours(i.imported)) and t.startswith(PIPELINE)]
    assert through == [], "call an api function instead"
    below = [f"{i.importer} -> {t}" for i in ALL if not i.importer.startswith("recipe_runner.cli")
             and (t := ours(i.imported)) and t.startswith("recipe_runner.cli")
             and not any(i.importer == a and _within(t, b) for a, b in LAZY)]
    assert below == []


def test_the_graph_reader_sees_relative_and_lazy_imports() -> None:
    """The reader itself: a relative import resolves to our module, an import in a function is marked so."""
    convert = {i.imported: i.in_function for i in imports("recipe_runner.quant.convert")}
    assert convert["recipe_runner.quant.stream"] is True and convert["recipe_runner.formats"] is False
    checkpoints = {i.imported: i.in_function for i in imports("recipe_runner.cli.checkpoints")}
    assert checkpoints["recipe_runner.quant.verify"] is True
    assert checkpoints["recipe_runner.quant.convert"] is False
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
