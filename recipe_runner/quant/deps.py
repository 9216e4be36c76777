"""Load the heavy optional dependencies on demand, with an install hint instead of a traceback."""

from __future__ import annotations

import importlib
from types import ModuleType

from recipe_runner.errors import user_error


def require_torch() -> ModuleType:
    """Import torch and safetensors (the `convert` extra) or raise a UserError saying how to install them."""
    for name in ("torch", "safetensors"):
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise user_error(
                name,
                f"is not installed ({e})",
                rule="conversion, verification and the benchmark need torch and safetensors",
                hint="pip install torch==2.13.0 (CPU build) first, then pip install 'recipe-runner[convert]'",
            ) from e
    return importlib.import_module("torch")
