"""Which optional extra brings which heavy module, so a base install names the extra a command needs."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from recipe_runner.errors import UserError, user_error

# The CPU build of torch on an ordinary machine (pip's default index resolves a multi-GB CUDA build).
TORCH_CPU = "pip install torch --index-url https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class Extra:
    name: str
    modules: tuple[str, ...]  # top-level modules it brings (pyproject.toml's optional-dependencies)
    used_by: str
    first: str = ""  # what to install before it


EXTRAS = (
    Extra("convert", ("torch", "safetensors", "numpy"), "convert, verify, and launch's conversion step",
          first=TORCH_CPU + " (CPU build; or your CUDA build)"),
    Extra("launch", ("ray",), "launch, status, logs, stop and sweep --launch"),
    Extra("track", ("wandb", "matplotlib"), "compare and its plots"),
)


def missing_extra(e: ModuleNotFoundError, command: str = "") -> UserError | None:
    """The error to show for a missing module an extra provides; None for any other missing module."""
    top = (e.name or "").split(".")[0]
    extra = next((x for x in EXTRAS if top in x.modules), None)
    if extra is None:
        return None
    install = f"pip install 'recipe-runner[{extra.name}]'"
    who = f"`recipe-runner {command}`" if command else "this"
    return user_error(top, f"is not installed: {who} needs the [{extra.name}] extra",
                      rule=f"[{extra.name}] brings {', '.join(extra.modules)}, for {extra.used_by}",
                      hint=f"{extra.first}, then {install}" if extra.first else install,
                      title=f"missing extra [{extra.name}]")


def require(name: str, command: str = "") -> None:
    """Import every module of extra `name` now, so a missing one fails before any work starts."""
    extra = next(x for x in EXTRAS if x.name == name)
    for module in extra.modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            raise (missing_extra(e, command) or e) from None
