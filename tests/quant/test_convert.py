"""End-to-end conversion of tiny real-layout checkpoints, and every refusal of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from recipe_runner.errors import UserError
from recipe_runner.formats import Fp8Params, Int4Params
from recipe_runner.formats.int4_pack import INT4_DEFAULT_IGNORE
from recipe_runner.quant import fp8, int4
from recipe_runner.quant.convert import convert_checkpoint
from recipe_runner.quant.safe_output import staging
from tests.quant.tiny_models import make_checkpoint


def load_all(d: Path) -> dict[str, torch.Tensor]:
    out = {}
    for shard in sorted(d.glob("*.safetensors")):
        with safe_open(str(shard), framework="pt") as f:
            out |= {k: f.get_tensor(k) for k in f.keys()}
    return out


@pytest.mark.parametrize("family", ["qwen3", "qwen3_moe", "deepseek_v3", "moonlight"])
def test_fp8_layout_config_index(checkpoints: dict[str, Path], tmp_path: Path, family: str) -> None:
    src, dst = checkpoints[family], tmp_path / "fp8"
    r = convert_checkpoint(src, dst, Fp8Params(), device="cpu", progress=False)
    source, out = load_all(src), load_all(dst)
    quantized = {n for n, t in out.items() if t.dtype == torch.float8_e4m3fn}
    assert r.quantized == len(quantized) > 0
    for name, w in source.items():
        if name in quantized:
            q, s = fp8.quantize(w, (128, 128))  # whole-tensor reference
            assert torch.equal(out[name].view(torch.uint8), q.view(torch.uint8))
            assert torch.equal(out[name[: -len("weight")] + "weight_scale_inv"], s)
        else:
            assert torch.equal(out[name], w), name
    kept_2d = {n for n in source if n not in quantized and source[n].dim() == 2}
    assert not any(".mlp.gate.weight" in n or "embed" in n or "lm_head" in n for n in quantized)
    assert {"model.embed_tokens.weight", "lm_head.weight"} <= kept_2d
    config = json.loads((dst / "config.json").read_text())
    qc = config["quantization_config"]
    assert qc["quant_method"] == "fp8" and qc["fmt"] == "e4m3" and qc["activation_scheme"] == "dynamic"
    assert qc["weight_block_size"] == [128, 128]
    assert qc["modules_to_not_convert"] == sorted(n.removesuffix(".weight") for n in source if n not in quantized)
    index = json.loads((dst / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in out.values())
    assert set(index["weight_map"]) == set(out)
    assert sorted(p.name for p in dst.glob("*.safetensors")) == sorted(p.name for p in src.glob("*.safetensors"))
    assert (dst / "tokenizer.json").read_text() == (src / "tokenizer.json").read_text()
    record = json.loads((dst / "conversion.json").read_text())
    assert record["mode"] == "fp8" and record["parameters"] == {"block_size": [128, 128]}
    assert record["source"]["fingerprint"].startswith("sha256:") and record["tool_version"]


@pytest.mark.parametrize("family", ["qwen3_moe", "deepseek_v3"])
def test_int4_quantizes_routed_experts_only(checkpoints: dict[str, Path], tmp_path: Path, family: str) -> None:
    src, dst = checkpoints[family], tmp_path / "int4"
    convert_checkpoint(src, dst, Int4Params(group_size=32), device="cpu", progress=False)
    source, out = load_all(src), load_all(dst)
    packed = {n.removesuffix(".weight_packed") for n in out if n.endswith(".weight_packed")}
    assert packed == {n.removesuffix(".weight") for n in source if ".mlp.experts." in n}
    for base in packed:
        w = source[base + ".weight"]
        p, s = int4.quantize(w, 32)
        assert torch.equal(out[base + ".weight_packed"], p)
        assert torch.equal(out[base + ".weight_scale"], s) and s.dtype == torch.bfloat16
        assert out[base + ".weight_shape"].tolist() == list(w.shape)
        assert out[base + ".weight_shape"].dtype == torch.int64
        assert base + ".weight" not in out
    qc = json.loads((dst / "config.json").read_text())["quantization_config"]
    weights = qc["config_groups"]["group_0"]["weights"]
    assert qc["format"] == "pack-quantized" and qc["quant_method"] == "compressed-tensors"
    assert weights["symmetric"] is True and weights["group_size"] == 32 and weights["num_bits"] == 4
    assert qc["ignore"] == list(INT4_DEFAULT_IGNORE)


def test_multi_slab_tensors_and_worker_count_do_not_change_bytes(tmp_path: Path) -> None:
    """A weight larger than one CPU slab, partial tiles, 1 vs 3 workers, numpy vs torch: identical files."""
    src = tmp_path / "src"
    src.mkdir()
    g = torch.Generator().manual_seed(7)
    tensors = {
        "model.layers.0.mlp.experts.0.down_proj.weight": torch.randn(1200, 1024, generator=g).bfloat16(),
        "model.layers.0.mlp.experts.0.up_proj.weight": torch.randn(300, 2048, generator=g).bfloat16(),
        "model.layers.0.input_layernorm.weight": torch.ones(1024, dtype=torch.bfloat16),
    }
    save_file(tensors, str(src / "model.safetensors"))
    (src / "config.json").write_text("{}")
    for params in (Fp8Params(), Int4Params(group_size=128)):
        one, three, tch = (tmp_path / f"{params.mode}-{v}" for v in ("1", "3", "torch"))
        assert convert_checkpoint(src, one, params, device="numpy", workers=1, progress=False).engine == "numpy"
        convert_checkpoint(src, three, params, device="numpy", workers=3, progress=False)
        assert convert_checkpoint(src, tch, params, device="torch-cpu", workers=2, progress=False).engine == "torch-cpu"
        for other in (three, tch):
            assert (one / "model.safetensors").read_bytes() == (other / "model.safetensors").read_bytes()
    out = load_all(tmp_path / "fp8-1")
    for name in list(tensors)[:2]:
        q, s = fp8.quantize(tensors[name], (128, 128))
        assert torch.equal(out[name].view(torch.uint8), q.view(torch.uint8))
        assert torch.equal(out[name.removesuffix("weight") + "weight_scale_inv"], s)


def test_single_file_fp32_source(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_checkpoint(src, "qwen3", shards=1, dtype=torch.float32)
    convert_checkpoint(src, tmp_path / "dst", Fp8Params(), device="cpu", progress=False)
    out = load_all(tmp_path / "dst")
    assert out["model.norm.weight"].dtype == torch.float32


def _error(excinfo: pytest.ExceptionInfo[UserError]) -> str:
    return excinfo.value.render()


def test_refuses_existing_destination_without_force(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    with pytest.raises(UserError) as e:
        convert_checkpoint(checkpoints["qwen3"], dst, Fp8Params(), device="cpu", progress=False)
    assert "already exists" in _error(e) and "--force" in _error(e)
    assert (dst / "keep.txt").exists()
    convert_checkpoint(checkpoints["qwen3"], dst, Fp8Params(), device="cpu", force=True, progress=False)
    assert not (dst / "keep.txt").exists() and (dst / "conversion.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["dst"]  # no temp or old directories left


def test_refuses_already_quantized_source(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    fp8_dir = tmp_path / "fp8"
    convert_checkpoint(checkpoints["qwen3_moe"], fp8_dir, Fp8Params(), device="cpu", progress=False)
    with pytest.raises(UserError) as e:
        convert_checkpoint(fp8_dir, tmp_path / "again", Int4Params(32), device="cpu", progress=False)
    assert "already has a quantization_config" in _error(e)
    config = json.loads((fp8_dir / "config.json").read_text())
    del config["quantization_config"]
    (fp8_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError) as e:
        convert_checkpoint(fp8_dir, tmp_path / "again", Fp8Params(), device="cpu", progress=False)
    assert "already quantized" in _error(e)
    assert not (tmp_path / "again").exists()


def test_refuses_missing_or_corrupt_safetensors(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    with pytest.raises(UserError) as e:
        convert_checkpoint(empty, tmp_path / "o1", Fp8Params(), progress=False)
    assert "no .safetensors" in _error(e)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(checkpoints["qwen3"], corrupt)
    shard = sorted(corrupt.glob("*.safetensors"))[1]
    shard.write_bytes(shard.read_bytes()[:-100])  # truncated download
    with pytest.raises(UserError) as e:
        convert_checkpoint(corrupt, tmp_path / "o2", Fp8Params(), progress=False)
    assert shard.name in _error(e) and "truncated" in _error(e)
    shard.write_bytes(b"\xff" * 64)
    with pytest.raises(UserError) as e:
        convert_checkpoint(corrupt, tmp_path / "o3", Fp8Params(), progress=False)
    assert "not a valid safetensors file" in _error(e)
    assert not any(p.name.startswith(("o1", "o2", "o3", ".o")) for p in tmp_path.iterdir())


def test_int4_refuses_nothing_to_quantize_router_and_bad_groups(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(UserError) as e:
        convert_checkpoint(checkpoints["qwen3"], tmp_path / "o", Int4Params(128), progress=False)
    assert "no tensor would be quantized" in _error(e) and "dense" in _error(e)
    with pytest.raises(UserError) as e:
        convert_checkpoint(checkpoints["qwen3_moe"], tmp_path / "o", Int4Params(32, ("lm_head",)), progress=False)
    assert "router" in _error(e) and "mlp.gate.weight" in _error(e)
    odd = tmp_path / "odd"
    odd.mkdir()
    save_file({"model.layers.0.mlp.experts.0.down_proj.weight": torch.ones(64, 96, dtype=torch.bfloat16)},
              str(odd / "model.safetensors"))
    (odd / "config.json").write_text("{}")
    with pytest.raises(UserError) as e:
        convert_checkpoint(odd, tmp_path / "o", Int4Params(64), progress=False)
    assert "not a multiple of --group-size 64" in _error(e)
    for bad in (0, 12, -8, 96, 256):
        with pytest.raises(UserError, match="invalid input"):
            Int4Params(bad)
    with pytest.raises(UserError):
        Int4Params(128, ("re:([",))
    assert not (tmp_path / "o").exists()


def test_refuses_destination_inside_source(checkpoints: dict[str, Path]) -> None:
    with pytest.raises(UserError, match="invalid input") as e:
        convert_checkpoint(checkpoints["qwen3"], checkpoints["qwen3"] / "fp8", Fp8Params(), progress=False)
    assert "overlaps the source" in _error(e)


def test_failed_run_leaves_no_destination(tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    with pytest.raises(RuntimeError), staging(dst) as tmp:
        (tmp / "model-00001-of-00002.safetensors").write_bytes(b"partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []
