"""A corrupt checkpoint file is bad input: `validate` refuses it (exit 2) naming the file, as the converter does,
instead of checking the checkpoint as if it had no weights or no config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipe_runner.models import load_config
from tests.conftest import assert_clean_error, run_cli

CONFIG = json.dumps(load_config("qwen3-4b"))


@pytest.mark.parametrize(("files", "bad", "why"), [
    ({"config.json": CONFIG, "model.safetensors": b"\xff" * 5}, "model.safetensors",
     "is not a valid safetensors file: 5 bytes, shorter than the 8-byte header length"),
    ({"config.json": CONFIG, "model.safetensors": b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}......"},
     "model.safetensors", "is not a valid safetensors file"),
    ({"config.json": CONFIG[: len(CONFIG) // 2]}, "config.json", "is not valid JSON"),
    ({"config.json": CONFIG, "model.safetensors.index.json": '{"weight_map": {'}, "model.safetensors.index.json",
     "is not valid JSON"),
], ids=["short-safetensors", "garbage-header", "truncated-config", "truncated-index"])
def test_a_corrupt_checkpoint_file_is_exit_2_naming_it(tmp_path: Path, files: dict, bad: str, why: str) -> None:
    root = tmp_path / "bf16"
    root.mkdir()
    for name, content in files.items():
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run_cli("validate", "qwen3-4b-bf16", f"checkpoints.hf={root}")
    assert_clean_error(result, "invalid checkpoint", f"{root / bad}: {why}", "rule:", "fix:")
    assert result.out == ""
