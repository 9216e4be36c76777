"""`convert bf16`: FP8-block and INT4 pack-quantized checkpoints back to BF16, bit-exact to slime's formulas.

References, each independent of our code: slime's formulas evaluated on whole tensors in plain torch
(THUDM/slime@624b824a:tools/fp8_cast_bf16.py:25-28: float32 `q * s`, stored as bfloat16;
tools/convert_k2_thinking_int4_to_bf16.py:67-83: compressed-tensors' `unpack_from_int32`, times the scale
repeated over its group, in float32, then bfloat16), compressed-tensors' own decompressor for INT4 and its
FP8BlockDequantizer for FP8.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from compressed_tensors.compressors import PackedQuantizationCompressor, pack_to_int32, unpack_from_int32
from compressed_tensors.entrypoints.convert import FP8BlockDequantizer
from compressed_tensors.quantization import QuantizationConfig
from safetensors.torch import load_file, save_file

from recipe_runner.formats import Bf16Params, Fp8Params, Int4Params
from recipe_runner.quant.convert import convert_checkpoint
from recipe_runner.quant.record import conversion_matches
from recipe_runner.quant.verify import verify_checkpoint
from tests.quant.quantized_sources import (
    FP8_QC,
    FP8_SHAPES,
    KEPT,
    E,
    fp8_weight,
    int4_qc,
    int4_source,
    make_fp8_source,
    pack_int4,
    tensors,
    write,
)


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    from recipe_runner.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.uint8), b.view(torch.uint8))


# ---- references ----------------------------------------------------------------------------------------------

def slime_fp8(q: torch.Tensor, s: torch.Tensor, block: tuple[int, int] = (128, 128)) -> torch.Tensor:
    n, k = q.shape
    full = s.float().repeat_interleave(block[0], 0)[:n].repeat_interleave(block[1], 1)[:, :k]
    return (q.float() * full).to(torch.bfloat16)


def ct_fp8(q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    conv = FP8BlockDequantizer(targets=("Linear",), weight_block_size=(128, 128), dtype=torch.float32)
    return conv.process({"m.weight": q, "m.weight_scale_inv": s.float()})["m.weight"].to(torch.bfloat16)


def slime_int4(packed: torch.Tensor, scale: torch.Tensor, shape: torch.Tensor, group: int) -> torch.Tensor:
    w = unpack_from_int32(packed, 4, tuple(int(v) for v in shape))
    return (w.float() * scale.float().repeat_interleave(group, 1)).to(torch.bfloat16)


def ct_int4(packed: torch.Tensor, scale: torch.Tensor, shape: torch.Tensor, group: int) -> torch.Tensor:
    scheme = QuantizationConfig.model_validate(int4_qc(group)).config_groups["group_0"]
    parts = {"weight_packed": packed, "weight_scale": scale, "weight_shape": shape}
    return PackedQuantizationCompressor.decompress(parts, scheme)["weight"].to(torch.bfloat16)


# ---- tricky sources ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fp8_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fp8_source(tmp_path_factory.mktemp("fp8") / "src")


# ---- bit-exactness ------------------------------------------------------------------------------------------

def test_the_test_packer_is_compressed_tensors_packing() -> None:
    codes = torch.randint(-8, 8, (7, 96), generator=torch.Generator().manual_seed(5), dtype=torch.int8)
    assert torch.equal(pack_int4(codes), pack_to_int32(codes, 4))


@pytest.mark.parametrize("engine", ["numpy", "torch-cpu"])
def test_fp8_bit_exact_to_slime_and_compressed_tensors(fp8_source: Path, tmp_path: Path, engine: str) -> None:
    dst = tmp_path / "bf16"
    r = convert_checkpoint(fp8_source, dst, Bf16Params(), device=engine, workers=2, progress=False,
                           allow_nonfinite=False)
    assert (r.quantized, r.kept, r.engine) == (len(FP8_SHAPES), len(KEPT), engine)
    src, out = tensors(fp8_source), tensors(dst)
    assert set(out) == set(FP8_SHAPES) | set(KEPT)
    for name in FP8_SHAPES:
        q, s = src[name], src[name + "_scale_inv"]
        assert out[name].dtype == torch.bfloat16 and out[name].shape == q.shape
        assert same_bits(out[name], slime_fp8(q, s)), name
        assert same_bits(out[name], ct_fp8(q, s)), name
    for name in KEPT:
        assert same_bits(out[name], src[name]), name
    config = json.loads((dst / "config.json").read_text())
    assert config == {"model_type": "x"}
    index = json.loads((dst / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(out)
    assert index["metadata"]["total_size"] == sum(t.numel() * t.element_size() for t in out.values())
    assert (dst / "tokenizer.json").exists()


@pytest.mark.parametrize(("group", "scale_dtype", "shape_dtype"), [
    (32, torch.bfloat16, torch.int64), (128, torch.float32, torch.int32), (64, torch.float16, torch.int64)])
def test_int4_bit_exact_to_slime_and_compressed_tensors(
    tmp_path: Path, group: int, scale_dtype: torch.dtype, shape_dtype: torch.dtype
) -> None:
    src_dir = int4_source(tmp_path / "src", group, scale_dtype, shape_dtype)
    src = tensors(src_dir)
    outs = []
    for engine in ("numpy", "torch-cpu"):
        dst = tmp_path / engine
        convert_checkpoint(src_dir, dst, Bf16Params(), device=engine, workers=2, progress=False)
        outs.append(tensors(dst))
    for out in outs:
        bases = [n[: -len(".weight_packed")] for n in src if n.endswith(".weight_packed")]
        assert set(out) == {f"{b}.weight" for b in bases} | set(KEPT) | {"model.layers.0.self_attn.o_proj.weight"}
        for b in bases:
            parts = [src[f"{b}.{r}"] for r in ("weight_packed", "weight_scale", "weight_shape")]
            assert same_bits(out[f"{b}.weight"], slime_int4(*parts, group)), b
            if scale_dtype != torch.float16:  # compressed-tensors computes in the scale dtype: fp16 rounds twice
                assert same_bits(out[f"{b}.weight"], ct_int4(*parts, group)), b
        for name in (*KEPT, "model.layers.0.self_attn.o_proj.weight"):
            assert same_bits(out[name], src[name]), name


def test_kimi_k25_text_config_quantization_config_is_removed_there(tmp_path: Path) -> None:
    src = int4_source(tmp_path / "src", 32, torch.bfloat16)
    config = json.loads((src / "config.json").read_text())
    wrapped = {"model_type": "kimi_k25", "text_config": {"hidden_size": 96, "quantization_config": config.pop(
        "quantization_config")}, "vision_config": {"depth": 2}}
    (src / "config.json").write_text(json.dumps(wrapped))
    convert_checkpoint(src, tmp_path / "bf16", Bf16Params(), device="numpy", progress=False)
    assert json.loads((tmp_path / "bf16" / "config.json").read_text()) == {
        "model_type": "kimi_k25", "text_config": {"hidden_size": 96}, "vision_config": {"depth": 2}}


@pytest.mark.parametrize("engine", ["numpy", "torch-cpu"])
def test_zero_size_weights_become_zero_size_bf16(tmp_path: Path, engine: str) -> None:
    packed = pack_to_int32(torch.zeros(0, 32, dtype=torch.int8), 4)
    src = write(tmp_path / "src", [{
        "a.weight": torch.zeros(0, 200, dtype=torch.float8_e4m3fn), "a.weight_scale_inv": torch.zeros(0, 2),
        "b.weight": torch.zeros(3, 0, dtype=torch.float8_e4m3fn), "b.weight_scale_inv": torch.zeros(1, 0)}],
        {"quantization_config": FP8_QC})  # fmt: skip
    convert_checkpoint(src, tmp_path / "fp8", Bf16Params(), device=engine, progress=False)
    shapes = {n: tuple(t.shape) for n, t in tensors(tmp_path / "fp8").items()}
    assert shapes == {"a.weight": (0, 200), "b.weight": (3, 0)}
    src = write(tmp_path / "src4", [{"x.weight_packed": packed, "x.weight_scale": torch.zeros(0, 1).bfloat16(),
                                     "x.weight_shape": torch.tensor([0, 32])}], {"quantization_config": int4_qc(32)})
    convert_checkpoint(src, tmp_path / "int4", Bf16Params(), device=engine, progress=False)
    assert tensors(tmp_path / "int4")["x.weight"].shape == (0, 32)
    assert verify_checkpoint(tmp_path / "int4", src).ok


# ---- non-finite outputs -------------------------------------------------------------------------------------

def test_overflow_to_inf_is_refused_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    q = torch.full((4, 8), 448.0).to(torch.float8_e4m3fn)
    src = write(tmp_path / "src", [{f"{E}.0.up_proj.weight": q, f"{E}.0.up_proj.weight_scale_inv":
                                    torch.tensor([[1e37]])}], {"quantization_config": FP8_QC})  # fmt: skip
    code, _, err = cli(capsys, "convert", "bf16", src, tmp_path / "dst", "--device", "numpy")
    assert code == 2 and f"{E}.0.up_proj.weight" in err and "NaN or Inf" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
    code, _, err = cli(capsys, "convert", "bf16", src, tmp_path / "dst", "--allow-nonfinite", "--device", "torch-cpu")
    assert code == 0, err
    assert torch.isinf(tensors(tmp_path / "dst")[f"{E}.0.up_proj.weight"]).all()


# ---- round trip through our own fp8 / int4 output ---------------------------------------------------------

@pytest.mark.parametrize(("family", "params"), [("deepseek_v3", Fp8Params()), ("qwen3_moe", Int4Params(32)),
                                                ("moonlight", Int4Params(128))])
def test_round_trip_is_within_the_format_error_bounds(
    checkpoints: dict[str, Path], tmp_path: Path, family: str, params: Fp8Params | Int4Params
) -> None:
    """original -> convert fp8|int4 -> convert bf16: same names, dtypes, shapes and config as the original;
    kept tensors byte-identical; every dequantized element within its format's bound of the original."""
    original = checkpoints[family]
    quantized, back = tmp_path / "q", tmp_path / "bf16"
    convert_checkpoint(original, quantized, params, device="numpy", progress=False)
    convert_checkpoint(quantized, back, Bf16Params(), device="numpy", progress=False)
    assert json.loads((back / "config.json").read_text()) == json.loads((original / "config.json").read_text())
    src, q, out = tensors(original), tensors(quantized), tensors(back)
    assert {n: (t.dtype, t.shape) for n, t in out.items()} == {n: (t.dtype, t.shape) for n, t in src.items()}
    err_sq = ref_sq = 0.0
    for name, w in src.items():
        if name in q and q[name].dtype == w.dtype:
            assert same_bits(out[name], w), name
            continue
        w, d = w.float(), out[name].float()
        base = name[: -len(".weight")]
        if isinstance(params, Fp8Params):  # e4m3 keeps 3 mantissa bits (2^-4 relative) down to 2^-9 * scale
            s = q[base + ".weight_scale_inv"].repeat_interleave(128, 0)[: w.shape[0]]
            s = s.repeat_interleave(128, 1)[:, : w.shape[1]]
            bound = w.abs() * 2**-4 + s * 2**-9
        else:  # half a step of the float32 scale, plus the scale's rounding to bf16 over up to 7 steps
            s = q[base + ".weight_scale"].float().repeat_interleave(params.group_size, 1)
            bound = s * (0.5 + 7 * 2**-8)
        assert ((d - w).abs() <= bound * 1.001 + d.abs() * 2**-8).all(), name  # + the final rounding to bf16
        err_sq += float(((d - w) ** 2).sum())
        ref_sq += float((w**2).sum())
    assert (err_sq / ref_sq) ** 0.5 < (0.04 if isinstance(params, Fp8Params) else 0.12)


# ---- real processes: a signal or a write failure mid-run leaves nothing -------------------------------------

@pytest.fixture(scope="module")
def big_fp8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 e4m3 experts of 1024 x 1024: 32 MiB of BF16 to write, long enough to catch the run mid-way."""
    g = torch.Generator().manual_seed(3)
    experts = {}
    for e in range(16):
        experts[f"{E}.{e}.down_proj.weight"] = fp8_weight(1024, 1024, g)
        experts[f"{E}.{e}.down_proj.weight_scale_inv"] = torch.rand(8, 8, generator=g)
    return write(tmp_path_factory.mktemp("big") / "src", [experts], {"quantization_config": FP8_QC})


def test_signal_mid_dequantization_removes_the_partial_output(big_fp8: Path, tmp_path: Path) -> None:
    import os
    import signal

    from tests.quant.test_faults import family, finish, partial_of, spawn, wait_for

    dst = tmp_path / "D"
    p = spawn("convert", "bf16", big_fp8, dst, "--quiet", "--workers", "1", "--device", "numpy")
    wait_for(partial_of(dst), "the partial directory", p)
    os.kill(p.pid, signal.SIGSTOP)
    assert not dst.exists()
    os.kill(p.pid, signal.SIGTERM)
    os.kill(p.pid, signal.SIGCONT)
    code, _, err = finish(p)
    assert code == 143 and "SIGTERM" in err and "no partial output" in err
    assert family(dst) == []


def test_write_failure_mid_dequantization_exits_1_and_leaves_nothing(big_fp8: Path, tmp_path: Path) -> None:
    from tests.quant.test_faults import _file_size_limit, family, finish, spawn

    dst = tmp_path / "D"
    code, _, err = finish(spawn("convert", "bf16", big_fp8, dst, "--quiet", preexec=_file_size_limit(4 << 20)))
    assert code == 1 and "File too large" in err and "no partial output" in err, err
    assert family(dst) == []


# ---- the command: reuse, verify, bad input ------------------------------------------------------------------

def test_command_reuses_a_finished_output_and_verify_checks_values(
    fp8_source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dst = tmp_path / "bf16"
    code, out, err = cli(capsys, "convert", "bf16", fp8_source, dst, "--quiet")
    assert code == 0 and f"{len(FP8_SHAPES)} tensors dequantized, {len(KEPT)} kept" in out, err
    record = json.loads((dst / "conversion.json").read_text())
    assert record["mode"] == "bf16" and record["parameters"] == {}
    assert record["source_format"] == "fp8 e4m3 block 128x128"
    assert conversion_matches(dst, fp8_source, "bf16", {})
    code, out, _ = cli(capsys, "convert", "bf16", fp8_source, dst)
    assert code == 0 and "already this conversion" in out

    report = verify_checkpoint(dst, fp8_source)
    assert report.ok and report.mode == "bf16", report.problems
    assert "FP8BlockDequantizer" in report.reference
    assert len([t for t in report.tensors if t.kind == "bf16"]) == len(FP8_SHAPES)
    assert verify_checkpoint(dst).ok  # structure only

    bad = tmp_path / "tampered"
    convert_checkpoint(fp8_source, bad, Bf16Params(), device="numpy", progress=False)
    out_t = tensors(bad)
    name = f"{E}.0.down_proj.weight"
    out_t[name].view(torch.int16)[0, 0] ^= 1
    out_t["lm_head.weight"].view(torch.int16)[0, 0] ^= 1
    for p in bad.glob("*.safetensors"):
        names = load_file(str(p)).keys()
        save_file({n: out_t[n] for n in names}, str(p), metadata={"format": "pt"})
    report = verify_checkpoint(bad, fp8_source)
    assert not report.ok
    assert any(name in p and "differs from the source dequantized" in p for p in report.problems), report.problems
    assert any("lm_head.weight: kept tensor differs" in p for p in report.problems), report.problems

    config = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps(config | {"model_type": "y"}))
    for p in bad.glob("*.safetensors"):
        kept = {n: t for n, t in load_file(str(p)).items() if n != "model.norm.weight"}
        save_file(kept, str(p), metadata={"format": "pt"})
    index = json.loads((bad / "model.safetensors.index.json").read_text())
    del index["weight_map"]["model.norm.weight"]
    (bad / "model.safetensors.index.json").write_text(json.dumps(index))
    problems = verify_checkpoint(bad, fp8_source).problems
    assert any("config.json: differs" in p for p in problems), problems
    assert any("conversion.json: the files do not match its manifest" in p for p in problems), problems
    assert "model.norm.weight: missing" in problems, problems


def test_plan_step_spelling_and_parameters() -> None:
    """The `dequant-bf16` plan step runs `recipe-runner convert bf16 SRC DST`; the launcher calls the library
    with `params_from_json("bf16", {})`."""
    import argparse

    from recipe_runner.cli.checkpoints import register
    from recipe_runner.formats import params_from_json

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    a = parser.parse_args(["convert", "bf16", "/data/K2", "/data/K2-bf16", "--device", "cpu"])
    assert (a.convert_mode, str(a.src), str(a.dst), a.device, callable(a.func)) == (
        "bf16", "/data/K2", "/data/K2-bf16", "cpu", True)
    assert params_from_json("bf16", {}) == Bf16Params() and Bf16Params().to_json() == {}


def test_verify_int4_output_against_compressed_tensors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = int4_source(tmp_path / "src", 32, torch.bfloat16)
    dst = tmp_path / "bf16"
    assert cli(capsys, "convert", "bf16", src, dst, "--device", "numpy")[0] == 0
    code, out, err = cli(capsys, "verify", dst, "--source", src)
    assert code == 0 and "4 dequantized tensors checked" in out and "compressed-tensors" in out, err


def _drop(name: str) -> dict:
    return {"drop": name}


BAD_FP8 = {  # case -> (edit of the tricky FP8 source, words the message must hold)
    "missing scale": (_drop(f"{E}.0.up_proj.weight_scale_inv"), [f"{E}.0.up_proj.weight", "has no weight_scale_inv"]),
    "orphan scale": (_drop(f"{E}.0.up_proj.weight"), [f"{E}.0.up_proj.weight_scale_inv", "belongs to no fp8"]),
    "scale shape": ({"scale_shape": f"{E}.0.up_proj.weight_scale_inv"}, ["[2, 3], expected", "[3, 3]"]),
    "e5m2": ({"e5m2": f"{E}.0.up_proj.weight"}, ["F8_E5M2", "float8_e4m3fn"]),
    "per-tensor fp8": ({"config": {"quant_method": "fp8", "activation_scheme": "dynamic"}}, ["per-tensor"]),
    "unknown method": ({"config": {"quant_method": "mxfp4"}}, ["quantized (mxfp4)", "does not read"]),
    "not quantized": ({"config": None}, ["has no quantization_config", "not quantized"]),
    "two groups": ({"config": int4_qc(32) | {"config_groups": {"group_0": {}, "group_1": {}}}}, ["2 groups"]),
    "asymmetric": ({"config": json.loads(json.dumps(int4_qc(32)).replace('"symmetric": true', '"symmetric": false'))},
                   ["asymmetric", "does not read"]),
}


@pytest.mark.parametrize("case", list(BAD_FP8))
def test_bad_fp8_or_config_exits_2_naming_it_and_writes_nothing(
    fp8_source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    edit, needles = BAD_FP8[case]
    src = tensors(fp8_source)
    config = {"model_type": "x", "quantization_config": FP8_QC}
    if "drop" in edit:
        del src[edit["drop"]]
    if "scale_shape" in edit:
        src[edit["scale_shape"]] = torch.ones(2, 3)
    if "e5m2" in edit:
        src[edit["e5m2"]] = src[edit["e5m2"]].float().to(torch.float8_e5m2)
    if "config" in edit:
        config = {"model_type": "x"} | ({"quantization_config": edit["config"]} if edit["config"] else {})
    root = write(tmp_path / "src", [src], config)
    code, _, err = cli(capsys, "convert", "bf16", root, tmp_path / "dst")
    assert code == 2, err
    for n in needles:
        assert n in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no DST, no partial, no lock left


BAD_INT4 = {
    "missing shape": ("weight_shape", None, ["has no weight_shape"]),
    "shape mismatch": ("weight_shape", torch.tensor([5, 64]), ["holds [5, 64]", "does not fit"]),
    "scale shape": ("weight_scale", torch.ones(5, 2, dtype=torch.bfloat16), ["expected", "[5, 1]"]),
    "zero point": ("weight_zero_point", torch.zeros(1, 1, dtype=torch.int32), ["weight_zero_point", "asymmetric"]),
    "packed dtype": ("weight_packed", torch.zeros(5, 4, dtype=torch.int64), ["not a 2-D int32"]),
    "ragged group": ("weight_shape", torch.tensor([5, 24]), ["input dim 24", "group size 32"]),
}


@pytest.mark.parametrize("case", list(BAD_INT4))
def test_bad_int4_exits_2_naming_the_tensor(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    role, value, needles = BAD_INT4[case]
    base = f"{E}.0.gate_proj"  # [5, 32] in int4_source
    src = tensors(int4_source(tmp_path / "made", 32, torch.bfloat16))
    if value is None:
        del src[f"{base}.{role}"]
    else:
        src[f"{base}.{role}"] = value
    if case == "ragged group":  # [5, 24]: 3 words per row, one partial group of 24
        src[f"{base}.weight_packed"] = torch.zeros(5, 3, dtype=torch.int32)
    root = write(tmp_path / "src", [src], {"quantization_config": int4_qc(32)})
    code, _, err = cli(capsys, "convert", "bf16", root, tmp_path / "dst")
    assert code == 2, err
    assert base in err
    for n in needles:
        assert n in err, err
    assert not (tmp_path / "dst").exists() and not list(tmp_path.glob(".dst*"))
