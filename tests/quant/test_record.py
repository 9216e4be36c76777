"""`conversion_matches` and the cheap source fingerprint behind it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from recipe_runner.formats import Int4Params
from recipe_runner.quant.convert import convert_checkpoint
from recipe_runner.quant.fingerprint import fingerprint
from recipe_runner.quant.record import conversion_matches


def test_conversion_matches(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(checkpoints["qwen3_moe"], src)
    dst = tmp_path / "int4"
    assert not conversion_matches(dst, src, "int4", {"group_size": 32})
    convert_checkpoint(src, dst, Int4Params(32), device="cpu", progress=False)
    assert conversion_matches(dst, src, "int4", {"group_size": 32})
    assert conversion_matches(str(dst), str(src), "int4", Int4Params(32).to_json())
    assert not conversion_matches(dst, src, "int4", {"group_size": 64})
    assert not conversion_matches(dst, src, "int4", {"group_size": 32, "ignore": ["lm_head"]})
    assert not conversion_matches(dst, src, "fp8", {"block_size": [128, 128]})
    assert not conversion_matches(dst, tmp_path / "missing", "int4", {"group_size": 32})

    moved = tmp_path / "moved"
    shutil.copytree(src, moved)  # a copy has new mtimes but the same content
    assert conversion_matches(dst, moved, "int4", {"group_size": 32})

    shard = sorted(src.glob("*.safetensors"))[0]
    with safe_open(str(shard), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors = {k: v + 1 for k, v in tensors.items()}  # fine-tuned in place: same names, shapes, sizes
    save_file(tensors, str(shard), metadata={"format": "pt"})
    assert not conversion_matches(dst, src, "int4", {"group_size": 32})

    record = json.loads((dst / "conversion.json").read_text())
    record["format_version"] = 0
    (dst / "conversion.json").write_text(json.dumps(record))
    assert not conversion_matches(dst, moved, "int4", {"group_size": 32})


def test_fingerprint_reads_little(tmp_path: Path) -> None:
    big = {"w": torch.zeros(4096, 1024, dtype=torch.bfloat16)}  # 8 MiB of data
    save_file(big, str(tmp_path / "model.safetensors"))
    a = fingerprint(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{}")
    assert fingerprint(tmp_path) != a
