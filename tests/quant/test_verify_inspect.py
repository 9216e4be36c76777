"""`verify` proves good output and catches bad output; `inspect` summarises any checkpoint from headers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from recipe_runner.quant.convert import convert_checkpoint
from recipe_runner.quant.inspect import inspect_checkpoint
from recipe_runner.quant.params import Fp8Params, Int4Params
from recipe_runner.quant.verify import verify_checkpoint


@pytest.fixture(scope="module")
def converted(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("converted")
    out = {}
    for name, family, params in (
        ("fp8-qwen3", "qwen3", Fp8Params()),
        ("fp8-mla", "deepseek_v3", Fp8Params()),
        ("int4-moe", "qwen3_moe", Int4Params(32)),
        ("int4-moonlight", "moonlight", Int4Params(64)),
    ):
        convert_checkpoint(checkpoints[family], base / name, params, device="cpu", progress=False)
        out[name] = base / name
    return out


SOURCES = {"fp8-qwen3": "qwen3", "fp8-mla": "deepseek_v3", "int4-moe": "qwen3_moe", "int4-moonlight": "moonlight"}


@pytest.mark.parametrize("name", list(SOURCES))
def test_verify_passes_with_reference_and_reports_error(
    converted: dict[str, Path], checkpoints: dict[str, Path], name: str
) -> None:
    r = verify_checkpoint(converted[name], checkpoints[SOURCES[name]])
    assert r.ok, r.problems
    if name.startswith("fp8"):
        assert r.mode == "fp8" and 0.01 < r.overall_rel_error < 0.05
        # 128-aligned weights go through transformers, partial tiles (MLA kv_a_proj 160 rows) through compressed-tensors
        expected = "FineGrainedFP8" if name == "fp8-qwen3" else "FP8BlockDequantizer"
        assert expected in r.reference
    else:
        assert r.mode == "int4" and 0.05 < r.overall_rel_error < 0.15
        assert r.reference.startswith("compressed-tensors")
    assert all(t.rel_error is not None for t in r.tensors if t.kind != "copy")


def test_verify_without_source_checks_format_only(converted: dict[str, Path]) -> None:
    r = verify_checkpoint(converted["int4-moe"])
    assert r.ok and r.overall_rel_error is None


def _tamper(src: Path, dst: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    shutil.copytree(src, dst)
    shard = sorted(dst.glob("*.safetensors"))[-1]
    with safe_open(str(shard), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    edit(tensors)
    save_file(tensors, str(shard))
    return dst


def test_verify_catches_changed_values_and_bad_metadata(
    converted: dict[str, Path], checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    def zero_norm(t: dict[str, torch.Tensor]) -> None:
        name = next(k for k in t if k.endswith("norm.weight"))
        t[name] = torch.zeros_like(t[name])

    bad = _tamper(converted["fp8-qwen3"], tmp_path / "a", zero_norm)
    r = verify_checkpoint(bad, checkpoints["qwen3"])
    assert not r.ok and any("differs from the source" in p for p in r.problems)

    def bad_scale_shape(t: dict[str, torch.Tensor]) -> None:
        name = next(k for k in t if k.endswith("weight_scale"))
        t[name] = t[name][:, :1].contiguous()

    r = verify_checkpoint(_tamper(converted["int4-moe"], tmp_path / "b", bad_scale_shape))
    assert not r.ok and any("expected" in p for p in r.problems)

    index_path = tmp_path / "a" / "model.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["metadata"]["total_size"] = 12345  # slime's param-count bug
    index_path.write_text(json.dumps(index))
    r = verify_checkpoint(tmp_path / "a")
    assert any("total_size" in p for p in r.problems)


def test_inspect(converted: dict[str, Path], checkpoints: dict[str, Path]) -> None:
    s = inspect_checkpoint(converted["fp8-mla"])
    assert s.format == "fp8 e4m3 block 128x128" and s.shards == 3
    assert s.quantized > 0 and s.conversion is not None and s.conversion["mode"] == "fp8"
    assert s.tensors == s.quantized * 2 + s.kept
    s = inspect_checkpoint(converted["int4-moe"])
    assert s.format == "compressed-tensors pack-quantized int4 group 32 symmetric"
    assert s.tensors == s.quantized * 3 + s.kept
    s = inspect_checkpoint(checkpoints["qwen3"])
    assert s.format == "unquantized (BF16)" and s.quantized == 0 and s.conversion is None


def test_inspect_does_not_import_torch(converted: dict[str, Path]) -> None:
    code = (
        "import sys; from recipe_runner.quant.inspect import inspect_checkpoint; "
        f"inspect_checkpoint({str(converted['int4-moe'])!r}); "
        "import recipe_runner.cli.checkpoints, recipe_runner.quant.record; "
        "assert 'torch' not in sys.modules and 'safetensors' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reference_compared_in_either_pass(
    converted: dict[str, Path], checkpoints: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether the reference import finishes before the first pass reads a module or only after it."""
    from recipe_runner.quant import verify

    early = verify_checkpoint(converted["int4-moe"], checkpoints["qwen3_moe"])
    monkeypatch.setattr(verify._References, "ready", lambda self: False)
    late = verify_checkpoint(converted["int4-moe"], checkpoints["qwen3_moe"])
    assert early.ok and late.ok and early.reference == late.reference != ""
    assert early.overall_rel_error == late.overall_rel_error
