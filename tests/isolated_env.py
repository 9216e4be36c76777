"""A venv that sees only what a wheel's declared dependencies bring, without downloading them again.

The venv shares the test environment's site-packages (`--system-site-packages`, so torch, ray and wandb
are not reinstalled per venv), installs the package under test from its wheel (so the checkout and its
editable install do not leak in), and hides every other distribution: a meta-path finder placed first
reports their top-level modules as not installed, exactly as Python does for an absent module. Which
distributions stay visible is the closure of the wheel's `Requires-Dist` (with the chosen extra) over the
installed distributions' own metadata, so an undeclared dependency (numpy for the converter) fails here as
it would after a plain `pip install 'recipe-runner[convert]'`.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import site as site_module
import subprocess
import sys
import zipfile
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement

FINDER = '''import os, sys
from importlib.machinery import PathFinder
HIDDEN = frozenset({hidden!r})
SHARED = frozenset({shared!r})
class HideUndeclared:
    """Distributions the package does not declare: absent here (tests/isolated_env.py).

    Only copies in the shared site-packages are hidden; a package's vendored copy (ray's psutil) is not.
    """
    @staticmethod
    def find_spec(name, path=None, target=None):
        if "." in name or name not in HIDDEN:
            return None
        spec = PathFinder.find_spec(name, path)
        where = spec and (spec.origin or next(iter(spec.submodule_search_locations or ()), None))
        if where and SHARED & {{os.path.dirname(where), os.path.dirname(os.path.dirname(where))}}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, HideUndeclared)
'''


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        lines = z.read(meta).decode().splitlines()
    return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]


def closure(requirements: list[str], extras: set[str]) -> set[str]:
    """Normalized names of the installed distributions these requirements pull in, transitively."""
    keep: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(r, extras) for r in requirements]
    while todo:
        text, active = todo.pop()
        req = Requirement(text)
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in (active or {""})):
            continue
        name = _norm(req.name)
        if (name, frozenset(req.extras)) in seen:
            continue
        seen.add((name, frozenset(req.extras)))
        if name == "recipe-runner":  # the package itself (`all` = its other extras)
            todo += [(r, set(req.extras)) for r in requirements]
            continue
        keep.add(name)
        try:
            todo += [(r, set(req.extras)) for r in md.distribution(req.name).requires or []]
        except md.PackageNotFoundError:
            pass  # an optional dependency not installed here: absent in the venv too
    return keep


def _top_levels(dist: md.Distribution) -> set[str]:
    tops = set()
    for f in dist.files or []:
        first = f.parts[0]
        if len(f.parts) == 1:
            if f.suffix in (".py", ".so", ".pyd"):
                tops.add(first.split(".")[0])
        elif not first.endswith((".dist-info", ".data", ".egg-info")) and first not in ("..", "__pycache__", "bin"):
            tops.add(first)
    return tops


@cache
def _installed() -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple((_norm(d.metadata["Name"]), frozenset(_top_levels(d))) for d in md.distributions())


def hidden_modules(keep: set[str]) -> set[str]:
    """Top-level modules of every installed distribution outside `keep`, minus those a kept one provides."""
    kept, other = set(), set()
    for name, tops in _installed():
        (kept if name in keep else other).update(tops)
    private = {m for m in other if m.startswith("_")}  # .pth helpers such as _distutils_hack
    return other - kept - private - set(sys.stdlib_module_names)


def make_venv(path: Path, wheel: Path, extras: set[str]) -> Path:
    """A venv at `path` holding `wheel` and seeing only what it declares (with `extras`)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(path)], check=True)
    python = path / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    "--ignore-installed", str(wheel)], check=True, capture_output=True)
    site = path / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    keep = closure(wheel_requirements(wheel), extras) | {"recipe-runner"}
    shared = sorted({*site_module.getsitepackages(), site_module.getusersitepackages()})
    (site / "hide_undeclared.py").write_text(FINDER.format(hidden=sorted(hidden_modules(keep)), shared=shared))
    (site / "00-hide-undeclared.pth").write_text("import hide_undeclared\n")
    return python

