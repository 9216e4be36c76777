"""`verify` of a `convert bf16` output: a BF16 checkpoint that must equal the dequantized source exactly.

Structure alone: the index and safetensors agree with the shards, config.json has no quantization_config,
no quantization tensor (scale, packed, shape, FP8) is left, the files match conversion.json's manifest.
With the source: the tensors are exactly those the source dequantizes to (names, dtypes, shapes, from the
same plan `convert` makes), config.json is the source's minus its quantization_config, kept tensors are
byte-identical, and every BF16 weight equals the consumer's own dequantization of the source rounded to
BF16: compressed-tensors' decompressor for INT4, transformers' FineGrainedFP8 (or compressed-tensors'
FP8BlockDequantizer for partial tiles) for FP8. Without those packages it falls back to our torch formula.
Streams row slabs like `verify` of quantized outputs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from recipe_runner.formats import QUANT_TENSOR_SUFFIXES, Fp8Params, QuantParams

from . import reference
from .deps import require_torch
from .dequant_plan import plan_dequantization
from .dequant_source import quantization_config_place, read_dequant_source, without_quantization_config
from .device import usable_cores
from .header import ShardHeader, TensorInfo
from .record import RECORD_NAME, manifest_problem, read_record
from .shard_plan import TensorJob
from .source import Checkpoint
from .stream import read_into, slab_rows, slabs
from .verify_report import TensorCheck, VerifyReport, check_index, check_with_safetensors
from .verify_stream import Reader

Part = tuple[ShardHeader, TensorInfo]
_TORCH_DTYPES = {"F8_E4M3": "float8_e4m3fn", "BF16": "bfloat16", "F16": "float16", "F32": "float32",
                 "I32": "int32", "I64": "int64"}  # fmt: skip


class _Reader(Reader):
    """verify's reader (descriptors, byte comparisons) with row ranges as torch tensors."""

    def __init__(self, torch: ModuleType) -> None:
        super().__init__()
        self.torch = torch

    def rows(self, part: Part, r0: int, r1: int) -> Any:
        shard, t = part
        row = t.nbytes // t.shape[0] if t.shape[0] else 0
        buf = self.torch.empty((r1 - r0) * row, dtype=self.torch.uint8)
        read_into(self.fd(shard.path), shard.data_start + t.begin + r0 * row, memoryview(buf.numpy()), t.name)
        return buf.view(getattr(self.torch, _TORCH_DTYPES[t.dtype])).view(r1 - r0, *t.shape[1:])


def is_dequantized_output(dst: Checkpoint, source: Checkpoint | None) -> bool:
    """DST is unquantized and is (by its conversion.json) or should be (its source is quantized) a bf16 output."""
    if quantization_config_place(dst.config) is not None:
        return False
    if source is not None and quantization_config_place(source.config) is not None:
        return True
    rec = read_record(dst.root)[0]
    return rec is not None and rec["mode"] == "bf16"


def _structure(dst: Checkpoint, problems: list[str]) -> None:
    rec = read_record(dst.root)[0]
    drift = manifest_problem(dst.root, rec["files"]) if rec else None
    if drift:
        problems.append(f"{RECORD_NAME}: the files do not match its manifest ({drift})")
    for _, t in dst.tensors():
        if t.name.endswith(QUANT_TENSOR_SUFFIXES) or t.dtype.startswith("F8_"):
            problems.append(f"{t.name}: a quantization tensor ({t.dtype}) is left in the BF16 checkpoint")


def _reference(fmt: QuantParams, raw: dict[str, Any], shape: tuple[int, int]) -> tuple[str, reference.Dequant] | None:
    if isinstance(fmt, Fp8Params):
        return reference.fp8_reference(fmt.block_size, shape)
    return reference.int4_reference(raw)


def _ours(torch: ModuleType, fmt: QuantParams, tensors: dict[str, Any]) -> Any:
    from . import fp8, int4

    if isinstance(fmt, Fp8Params):
        return fp8.dequantize_bf16(tensors["weight"], tensors["weight_scale_inv"], fmt.block_size)
    packed = tensors["weight_packed"]
    return int4.dequantize(packed, tensors["weight_scale"], packed.shape[1] * 8, torch.bfloat16)


def _check_job(torch: ModuleType, reader: _Reader, job: TensorJob, dst: dict[str, Part], fmt: QuantParams,
               raw: dict[str, Any], problems: list[str]) -> str | None:
    """Compare one output tensor with the source; the reference that ran, if any."""
    out = dst[job.outputs[0].name]
    if job.kind == "copy":
        if not reader.same_bytes(out, (job.shard, job.src)):
            problems.append(f"{job.src.name}: kept tensor differs from the source")
        return None
    n, k = job.outputs[0].shape
    ref = _reference(fmt, raw, (n, k))
    bn = fmt.block_size[0] if isinstance(fmt, Fp8Params) else 1
    scale = job.parts[0]
    for r0, r1 in slabs(n, slab_rows(k, bn, 1 << 21)):
        s0, s1 = (r0 // bn, -(-r1 // bn)) if isinstance(fmt, Fp8Params) else (r0, r1)
        main = reader.rows((job.shard, job.src), r0, r1)
        sc = reader.rows((scale.shard, scale.info), s0, s1)
        # float32 scales (exact for any float scale): the reference's product is then rounded once, to BF16
        if isinstance(fmt, Fp8Params):
            tensors = {"weight": main, "weight_scale_inv": sc.float()}
        else:
            tensors = {"weight_packed": main, "weight_scale": sc.float(), "weight_shape": torch.tensor([r1 - r0, k])}
        try:
            expected = (ref[1](tensors) if ref else _ours(torch, fmt, tensors)).to(torch.bfloat16)
        except Exception as e:  # a third-party API change must read as a finding, not a crash
            problems.append(f"{job.outputs[0].name}: {ref[0] if ref else 'our dequantizer'} failed "
                            f"({type(e).__name__}: {e})")
            return None
        got = reader.rows(out, r0, r1)
        if not torch.equal(expected.view(torch.int16), got.view(torch.int16)):
            problems.append(f"{job.outputs[0].name}: differs from the source dequantized by "
                            f"{ref[0] if ref else 'our formula'}")
            break
    return ref[0] if ref else None


def verify_dequantized(dst: Checkpoint, source: Checkpoint | None, workers: int | None = None) -> VerifyReport:
    """The VerifyReport of a `convert bf16` output (see the module docstring)."""
    problems: list[str] = []
    check_index(dst, problems)
    check_with_safetensors(dst, problems)
    _structure(dst, problems)
    if source is None:
        return VerifyReport(dst.root, "bf16", "no --source given: structure only", (), tuple(problems), None)
    qc = read_dequant_source(source.config, str(source.root / "config.json"))
    fmt: QuantParams = qc.params  # type: ignore[assignment]  # read_dequant_source returns a known format
    layout = plan_dequantization(source, fmt)
    if dst.config != without_quantization_config(source.config or {}):
        problems.append("config.json: differs from the source's config.json beyond its quantization_config")
    have = {t.name: (s, t) for s, t in dst.tensors()}
    want = {o.name: o for p in layout.shards for o in p.tensors}
    for name in sorted(set(want) - set(have)):
        problems.append(f"{name}: missing")
    for name in sorted(set(have) - set(want)):
        problems.append(f"{name}: not in the source's dequantization")
    for name in sorted(set(want) & set(have)):
        t, o = have[name][1], want[name]
        if (t.dtype, t.shape) != (o.dtype, o.shape):
            problems.append(f"{name}: {t.dtype} {list(t.shape)}, expected {o.dtype} {list(o.shape)}")
    jobs = [j for p in layout.shards for j in p.jobs if j.outputs[0].name in have
            and (have[j.outputs[0].name][1].dtype, have[j.outputs[0].name][1].shape)
            == (j.outputs[0].dtype, j.outputs[0].shape)]
    torch = require_torch()
    reader = _Reader(torch)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    found: list[list[str]] = [[] for _ in jobs]
    try:
        with ThreadPoolExecutor(max_workers=workers or usable_cores()) as pool:
            refs = list(pool.map(lambda i: _check_job(torch, reader, jobs[i], have, fmt, qc.raw, found[i]),
                                 range(len(jobs))))
    finally:
        torch.set_num_threads(previous)
        reader.close()
    problems += [p for f in found for p in f]
    checks = tuple(sorted((TensorCheck(j.outputs[0].name, "copy" if j.kind == "copy" else "bf16", None, None)
                           for j in jobs), key=lambda c: c.name))
    names = {r for r in refs if r}
    ref = ", ".join(sorted(names)) or "none installed (compressed-tensors / transformers); ours only"
    return VerifyReport(dst.root, "bf16", ref, checks, tuple(problems), None)
