"""Load the heavy optional dependencies on demand, with an install hint instead of a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from recipe_runner.extras import require


def require_torch() -> ModuleType:
    """torch, once torch, safetensors and numpy (the `convert` extra) are known to import."""
    require("convert")
    return importlib.import_module("torch")
