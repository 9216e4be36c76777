"""The one checkpoint reader: pre-flight's lenient view and the converter's strict view of a directory agree."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from recipe_runner import formats
from recipe_runner.errors import UserError
from recipe_runner.formats import Int4Params
from recipe_runner.quant.source import open_checkpoint, read_checkpoint


@pytest.mark.parametrize("family", ["qwen3", "qwen3_moe"])
def test_strict_and_lenient_readers_see_the_same_checkpoint(checkpoints: dict[str, Path], family: str) -> None:
    strict, lenient = open_checkpoint(checkpoints[family]), read_checkpoint(checkpoints[family])
    assert lenient is not None and lenient.shards == ()  # pre-flight reads no shard header when there is an index
    assert sorted(lenient.names) == sorted(strict.names) == sorted(t.name for _, t in strict.tensors())
    assert lenient.config == strict.config and lenient.quant is None and strict.quant is None


def test_both_read_a_quantization_config_through_the_formats_reader(checkpoints: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    root = tmp_path / "ck"
    shutil.copytree(checkpoints["qwen3_moe"], root)
    config = json.loads((root / "config.json").read_text())
    quantized = {**config, "quantization_config": Int4Params(32).quantization_config()}
    (root / "config.json").write_text(json.dumps(quantized))
    lenient = read_checkpoint(root)
    assert lenient is not None and lenient.quant == open_checkpoint(root).quant
    assert lenient.quant.format is formats.INT4 and lenient.quant.params == Int4Params(32)
    (root / "config.json").write_text(json.dumps({**config, "quantization_config": {"quant_method": ["fp8"]}}))
    with pytest.raises(UserError) as e:
        read_checkpoint(root)
    assert "quantization_config.quant_method" in e.value.render()


def test_a_checkpoint_not_here_is_none_for_pre_flight(tmp_path: Path) -> None:
    assert read_checkpoint(tmp_path / "missing") is None
