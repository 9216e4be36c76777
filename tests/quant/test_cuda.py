"""The CUDA engine writes the same bytes as both CPU engines (runs only where CUDA is available)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from recipe_runner.formats import Bf16Params, Fp8Params, Int4Params
from recipe_runner.quant.convert import convert_checkpoint
from tests.quant.quantized_sources import int4_source, make_fp8_source, write

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def assert_same_tensors(a: Path, b: Path) -> None:
    """Byte-equal files, or a message naming the first tensors that differ."""
    for pa in sorted(a.glob("*.safetensors")):
        if pa.read_bytes() == (b / pa.name).read_bytes():
            continue
        ta, tb = load_file(str(pa)), load_file(str(b / pa.name))
        bad = [k for k in ta if not torch.equal(ta[k].view(torch.uint8), tb[k].view(torch.uint8))]
        pytest.fail(f"{pa.name}: {len(bad)} tensors differ, e.g. {bad[:3]}")


@pytest.mark.parametrize("family", ["qwen3", "qwen3_moe", "deepseek_v3", "moonlight"])
def test_cuda_output_equals_cpu_output(checkpoints: dict[str, Path], tmp_path: Path, family: str) -> None:
    modes = [Fp8Params()] + ([] if family == "qwen3" else [Int4Params(32)])
    for params in modes:
        cpu, cuda = tmp_path / f"{params.mode}-cpu", tmp_path / f"{params.mode}-cuda"
        convert_checkpoint(checkpoints[family], cpu, params, device="numpy", progress=False)
        convert_checkpoint(checkpoints[family], cuda, params, device="cuda", progress=False)
        assert_same_tensors(cpu, cuda)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
def test_cuda_equals_cpu_on_large_tricky_weights(tmp_path: Path, dtype: torch.dtype) -> None:
    """Weights spanning many CUDA slabs, partial tiles, zero tiles, huge and tiny magnitudes."""
    g = torch.Generator().manual_seed(0)
    big = torch.randn(4100, 8192, generator=g)
    big[:128, :128] = 0
    big[-1] *= 1e3 if dtype == torch.float16 else 1e20
    big[-2] *= 1e-6 if dtype == torch.float16 else 1e-20
    tensors = {
        "model.layers.0.mlp.experts.0.down_proj.weight": big.to(dtype),
        "model.layers.0.mlp.experts.0.up_proj.weight": (torch.randn(777, 4096, generator=g) * 0.02).to(dtype),
    }
    src = tmp_path / "src"
    src.mkdir()
    save_file(tensors, str(src / "model.safetensors"))
    (src / "config.json").write_text("{}")
    for params in (Fp8Params(), Int4Params(128)):
        cpu, tch, cuda = (tmp_path / f"{params.mode}-{e}" for e in ("numpy", "torch-cpu", "cuda"))
        convert_checkpoint(src, cpu, params, device="numpy", progress=False)
        convert_checkpoint(src, tch, params, device="torch-cpu", progress=False)
        convert_checkpoint(src, cuda, params, device="cuda", workers=3, progress=False)
        assert_same_tensors(cpu, tch)
        assert_same_tensors(cpu, cuda)


def test_cuda_dequantization_equals_cpu_on_tricky_sources(tmp_path: Path) -> None:
    """`convert bf16`: partial tiles, extreme scales, BF16/F16/F32 scales, scales in another shard."""
    sources = [make_fp8_source(tmp_path / "fp8")] + [
        int4_source(tmp_path / f"int4-{g}", g, dtype)
        for g, dtype in ((32, torch.bfloat16), (64, torch.float16), (128, torch.float32))
    ]
    for src in sources:
        outs = [tmp_path / f"{src.name}-{e}" for e in ("numpy", "torch-cpu", "cuda")]
        for out, engine in zip(outs, ("numpy", "torch-cpu", "cuda"), strict=True):
            convert_checkpoint(src, out, Bf16Params(), device=engine, workers=3, progress=False)
        assert_same_tensors(outs[0], outs[1])
        assert_same_tensors(outs[0], outs[2])


def test_cuda_dequantization_spans_many_slabs(tmp_path: Path) -> None:
    """Weights larger than a CUDA slab (16M elements), through both pinned slots, and a round trip."""
    g = torch.Generator().manual_seed(1)
    big = {"model.layers.0.mlp.experts.0.down_proj.weight": torch.randn(4100, 8192, generator=g).bfloat16(),
           "model.layers.0.mlp.experts.0.up_proj.weight": torch.randn(777, 4096, generator=g).bfloat16()}
    src = write(tmp_path / "src", [big], {"model_type": "x"})
    for params in (Fp8Params(), Int4Params(128)):
        q = tmp_path / params.mode
        convert_checkpoint(src, q, params, device="numpy", progress=False)
        cpu, cuda = tmp_path / f"{params.mode}-bf16-numpy", tmp_path / f"{params.mode}-bf16-cuda"
        convert_checkpoint(q, cpu, Bf16Params(), device="numpy", progress=False)
        convert_checkpoint(q, cuda, Bf16Params(), device="cuda", workers=2, progress=False)
        assert_same_tensors(cpu, cuda)
        assert load_file(str(next(cuda.glob("*.safetensors"))))["model.layers.0.mlp.experts.0.up_proj.weight"].dtype \
            == torch.bfloat16
