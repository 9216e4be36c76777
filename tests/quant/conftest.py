"""Session fixtures: one tiny source checkpoint per model family, shared read-only by the tests."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from recipe_runner.quant import reference
from tests.quant.tiny_models import make_checkpoint


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One source checkpoint per family, shared by all tests (read-only)."""
    base = tmp_path_factory.mktemp("src")
    return {f: make_checkpoint(base / f, f) for f in ("qwen3", "qwen3_moe", "deepseek_v3", "moonlight")}


@pytest.fixture(scope="session", autouse=True)
def reference_imported() -> None:
    """With the reference packages imported here, `verify` checks against them in this process
    (refcheck.InlineRun): one import per session instead of a child process per verify (seconds each).
    test_verify_inspect runs the child path, as the CLI does."""
    for module in reference.modules("fp8") + reference.modules("int4"):
        importlib.import_module(module)
