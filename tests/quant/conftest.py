"""Session fixtures: one tiny source checkpoint per model family, shared read-only by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.quant.tiny_models import make_checkpoint


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One source checkpoint per family, shared by all tests (read-only)."""
    base = tmp_path_factory.mktemp("src")
    return {f: make_checkpoint(base / f, f) for f in ("qwen3", "qwen3_moe", "deepseek_v3", "moonlight")}
