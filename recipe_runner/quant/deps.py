"""Load the heavy optional dependencies on demand, with an install hint instead of a traceback."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from recipe_runner.extras import require


def require_torch() -> ModuleType:
    """torch, once torch, safetensors and numpy (the `convert` extra) are known to import."""
    require("convert")
    return importlib.import_module("torch")


def require_installed(module: str) -> None:
    """Fail as a failed import would (the CLI names the extra) when `module` is not installed, without
    importing it: torch takes seconds."""
    if importlib.util.find_spec(module) is None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)
