"""A corrupt single-file checkpoint does not crash `validate`: the header reader is the converter's own."""

from __future__ import annotations

import json
from pathlib import Path

from recipe_runner.models import load_config
from tests.conftest import run_cli


def test_garbage_model_safetensors_gives_no_traceback(tmp_path: Path) -> None:
    root = tmp_path / "bf16"
    root.mkdir()
    (root / "config.json").write_text(json.dumps(load_config("qwen3-4b")))
    (root / "model.safetensors").write_bytes(b"\xff" * 5)
    result = run_cli("validate", "qwen3-4b-bf16", f"checkpoints.hf={root}")
    assert result.code in (0, 2), result.err
    assert "Traceback" not in result.err
