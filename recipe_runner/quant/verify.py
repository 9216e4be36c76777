"""`verify_checkpoint`: re-read a converted checkpoint, check its format and measure its error, streaming.

Checks: every shard opens with safetensors itself and agrees with our header reader; the index agrees
with the shards (names and byte `total_size`); config.json carries a quantization_config we can read;
every quantized module has the right tensors, dtypes and shapes; every unquantized 2-D weight is covered
by the config's keep/ignore list (else SGLang would try to load it as quantized); INT4 codes lie in
[-7, 7]; our dequantization is finite, equals the consumer's own (reference.py) and, given the source,
is reported as relative error while copied tensors must be byte-identical.

Like the converter, it works on row slabs read at known offsets by a pool of threads over tensors, so
memory is a slab per worker whatever the checkpoint size. The reference packages (compressed-tensors,
transformers) take seconds to import: a background thread imports them while the first pass streams
source and output; the second pass re-reads only the quantized output (a fraction of the source, and in
the page cache by then) to compare our dequantization with theirs.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from recipe_runner.errors import user_error
from recipe_runner.formats import Fp8Params, Int4Params, Params, QuantConfig
from recipe_runner.formats.fp8_tiles import scale_shape

from . import reference
from .deps import require_torch
from .device import usable_cores
from .header import ShardHeader, TensorInfo
from .source import Checkpoint, open_checkpoint
from .stream import read_into, slab_rows, slabs
from .verify_bf16 import is_dequantized_output, verify_dequantized
from .verify_report import TensorCheck, VerifyReport, check_index, check_with_safetensors

SLAB_ELEMENTS = 1 << 21  # float32 temporaries of a few slabs per worker stay in the tens of MiB
_COMPARE_CHUNK = 8 << 20
_TORCH_DTYPES = {"F8_E4M3": "float8_e4m3fn", "BF16": "bfloat16", "F16": "float16", "F32": "float32",
                 "F64": "float64", "I32": "int32", "I64": "int64"}  # fmt: skip


@dataclass
class _Work:
    """One module to check: its output tensors by role, and its source weight when there is one."""

    name: str
    kind: str  # fp8 | int4 | copy
    parts: dict[str, tuple[ShardHeader, TensorInfo]]
    source: tuple[ShardHeader, TensorInfo] | None
    shape: tuple[int, ...] = ()  # the module's weight shape (dequantized)
    problems: list[str] = field(default_factory=list)
    err_sq: float = 0.0
    ref_sq: float = 0.0
    max_abs: float = 0.0
    reference: str | None = None  # the consumer's dequantizer that was compared, once it ran


class _Reader:
    """Positional reads of row ranges into torch tensors; one file descriptor per file, shared by threads."""

    def __init__(self, torch: ModuleType) -> None:
        self.torch, self.fds, self.lock = torch, {}, threading.Lock()

    def fd(self, path: Path) -> int:
        with self.lock:
            if path not in self.fds:
                self.fds[path] = os.open(path, os.O_RDONLY)
            return self.fds[path]

    def rows(self, part: tuple[ShardHeader, TensorInfo], r0: int, r1: int) -> Any:
        shard, t = part
        torch = self.torch
        row = t.nbytes // t.shape[0] if t.shape and t.shape[0] else t.nbytes
        buf = torch.empty((r1 - r0) * row, dtype=torch.uint8)
        read_into(self.fd(shard.path), shard.data_start + t.begin + r0 * row, memoryview(buf.numpy()), t.name)
        out = buf.view(getattr(torch, _TORCH_DTYPES[t.dtype]))
        return out.view(r1 - r0, *t.shape[1:]) if t.shape else out.view(())

    def same_bytes(self, a: tuple[ShardHeader, TensorInfo], b: tuple[ShardHeader, TensorInfo]) -> bool:
        (sa, ta), (sb, tb) = a, b
        if ta.nbytes != tb.nbytes:
            return False
        for pos in range(0, ta.nbytes, _COMPARE_CHUNK):
            n = min(_COMPARE_CHUNK, ta.nbytes - pos)
            if os.pread(self.fd(sa.path), n, sa.data_start + ta.begin + pos) != os.pread(
                self.fd(sb.path), n, sb.data_start + tb.begin + pos
            ):
                return False
        return True

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)


def _mode(ckpt: Checkpoint) -> QuantConfig:
    qc = ckpt.quant
    if qc is not None and qc.params is not None:
        return qc
    raise user_error(
        str(ckpt.root / "config.json"),
        "has no block-FP8 or symmetric INT4 pack-quantized quantization_config",
        hint="verify a directory written by `recipe-runner convert`",
    )


class _Plan:
    """What to check, from headers alone: the modules, and problems found without reading data."""

    def __init__(self, dst: Checkpoint, source: Checkpoint | None) -> None:
        self.where = {t.name: (s, t) for s, t in dst.tensors()}
        self.src = {t.name: (s, t) for s, t in source.tensors()} if source else None
        self.work: list[_Work] = []
        self.problems: list[str] = []

    def shape_is(self, name: str, dtype: str | tuple[str, ...], shape: tuple[int, ...]) -> bool:
        part = self.where.get(name)
        dtypes = (dtype,) if isinstance(dtype, str) else dtype
        if part is None:
            self.problems.append(f"{name}: missing")
            return False
        t = part[1]
        if t.dtype not in dtypes or t.shape != shape:
            self.problems.append(f"{name}: {t.dtype} {list(t.shape)}, expected {'/'.join(dtypes)} {list(shape)}")
            return False
        return True

    def add(self, name: str, kind: str, parts: dict[str, str], shape: tuple[int, ...]) -> None:
        """`shape`: the module's weight shape here (dequantized), which the source's must equal."""
        source = None
        if self.src is not None:
            source = self.src.get(name)
            if source is None:
                self.problems.append(f"{name}: not in the source checkpoint")
            elif source[1].shape != shape:
                self.problems.append(f"{name}: {list(shape)} here, {list(source[1].shape)} in the source")
                source = None
        if kind == "copy" and source is None:
            return
        self.work.append(_Work(name, kind, {role: self.where[n] for role, n in parts.items()}, source, shape))


def _plan_fp8(p: _Plan, qc: QuantConfig) -> None:
    assert isinstance(qc.params, Fp8Params)
    fmt, block = qc.params.format, qc.params.block_size
    skipped = set(qc.not_converted)
    for name, (_, t) in sorted(p.where.items()):
        if name.endswith(fmt.aux_suffixes):
            continue
        base = name[: -len(".weight")] if name.endswith(".weight") else name
        if fmt.quantized_base(name, t.dtype, t.shape) is not None:
            parts = fmt.module_parts(base)
            if len(t.shape) == 2 and p.shape_is(parts["weight_scale_inv"], "F32", scale_shape(t.shape, block)):  # type: ignore[arg-type]
                p.add(name, qc.params.mode, parts, t.shape)
        else:
            if name.endswith(".weight") and len(t.shape) == 2 and base not in skipped:
                p.problems.append(f"{name}: kept in {t.dtype} but not listed in modules_to_not_convert")
            p.add(name, "copy", {"weight": name}, t.shape)


def _plan_int4(p: _Plan, qc: QuantConfig) -> None:
    assert isinstance(qc.params, Int4Params)
    fmt, group = qc.params.format, qc.params.group_size
    for name, (_, t) in sorted(p.where.items()):
        if name.endswith((".weight_scale", ".weight_shape")):
            continue
        if fmt.quantized_base(name, t.dtype, t.shape) is None:
            if fmt.quantizes(name, t.shape, qc.params):
                p.problems.append(f"{name}: kept in {t.dtype} but not matched by the ignore rules")
            p.add(name, "copy", {"weight": name}, t.shape)
            continue
        base = name[: -len(".weight_packed")]
        if len(t.shape) != 2:
            p.problems.append(f"{name}: {list(t.shape)}, expected a 2-D [N, K/8] int32 tensor")
            continue
        n, k = t.shape[0], t.shape[1] * 8
        if (
            p.shape_is(name, "I32", (n, k // 8))
            and p.shape_is(f"{base}.weight_scale", ("BF16", "F16", "F32"), (n, k // group))
            and p.shape_is(f"{base}.weight_shape", ("I64", "I32"), (2,))
        ):
            p.add(f"{base}.weight", qc.params.mode, fmt.module_parts(base), (n, k))


_PLANS = {Fp8Params: _plan_fp8, Int4Params: _plan_int4}


def _slabs(w: _Work, block_rows: int) -> Iterator[tuple[int, int]]:
    n, k = w.shape
    yield from slabs(n, max(1, min(n, slab_rows(k, block_rows, SLAB_ELEMENTS))))  # no slab for 0 rows


def _our_dequant(torch: ModuleType, reader: _Reader, w: _Work, r0: int, r1: int, params: Params) -> tuple:
    fmt = params.format
    tensors = fmt.slab(lambda role, a, b: reader.rows(w.parts[role], a, b), r0, r1, params)
    return fmt.dequantize(tensors, params), tensors


class _References:
    """The consumer's dequantizer per module, once the background import is done (None before that)."""

    def __init__(self, preload: Future[None], params: Params, qc: dict[str, Any]) -> None:
        self.preload, self.params, self.qc, self.lock = preload, params, qc, threading.Lock()
        self.int4: tuple[str, reference.Dequant] | None = None
        self.int4_done = False
        self.int4_error = ""

    def ready(self) -> bool:
        return self.preload.done()

    def get(self, w: _Work) -> tuple[str, reference.Dequant] | None:
        self.preload.result()
        if isinstance(self.params, Fp8Params):
            return reference.fp8_reference(self.params.block_size, w.parts["weight"][1].shape)  # type: ignore[arg-type]
        with self.lock:
            if not self.int4_done:
                self.int4_done = True
                try:
                    self.int4 = reference.int4_reference(self.qc)
                except ValueError as e:  # pydantic's ValidationError: a field we do not read is malformed
                    self.int4_error = f"config.json: compressed-tensors cannot read this quantization_config: {e}"
        return self.int4


def _compare(torch: ModuleType, w: _Work, ref: tuple[str, reference.Dequant], deq: Any, tensors: dict) -> bool:
    """Our dequantization of one slab equals the consumer's; False (and a problem) when not."""
    if not deq.numel():  # an empty weight has nothing to compare (transformers divides by 0)
        return True
    try:
        expected = ref[1](tensors)
    except Exception as e:  # a third-party API change must read as a finding, not a crash
        w.problems.append(f"{w.name}: {ref[0]} could not dequantize it ({type(e).__name__}: {e})")
        return False
    if not torch.equal(expected, deq.to(expected.dtype)):
        w.problems.append(f"{w.name}: our dequantization differs from {ref[0]}")
        return False
    return True


def _first_pass(torch: ModuleType, reader: _Reader, w: _Work, params: Params, refs: _References) -> None:
    """Finite, codes, shape record, error against the source; copies byte-equal to the source. Once the
    reference packages are imported, the reference comparison runs here too, on the slabs already read."""
    if w.kind == "copy":
        if w.source is not None and not reader.same_bytes(w.parts["weight"], w.source):
            w.problems.append(f"{w.name}: kept tensor differs from the source")
        return
    if isinstance(params, Int4Params):
        shape = reader.rows(w.parts["weight_shape"], 0, 2).tolist()
        packed_shape = w.parts["weight_packed"][1].shape
        if shape != [packed_shape[0], packed_shape[1] * 8]:
            w.problems.append(f"{w.name.removesuffix('.weight')}.weight_shape: {shape}, expected "
                              f"{[packed_shape[0], packed_shape[1] * 8]}")
            return
    block_rows = params.format.block_rows(params)
    finite, minus8 = True, False
    ref = refs.get(w) if refs.ready() else None
    agreed = ref is not None
    for r0, r1 in _slabs(w, block_rows):
        deq, tensors = _our_dequant(torch, reader, w, r0, r1, params)
        if agreed:
            agreed = _compare(torch, w, ref, deq, tensors)  # type: ignore[arg-type]
        # deq is finite iff the scales are and (FP8) no code is NaN (e4m3fn NaN: exponent and mantissa all 1)
        scale = tensors[params.format.scale_role]
        finite = finite and bool(torch.isfinite(scale).all())
        if isinstance(params, Fp8Params):
            finite = finite and not bool((tensors["weight"].view(torch.uint8) & 0x7F).eq_(0x7F).any())
        else:  # stored nibble = code + 8, so code -8 is a zero nibble
            b = tensors["weight_packed"].view(torch.uint8)
            minus8 = minus8 or bool((b & 0xF).eq_(0).any()) or bool((b >> 4).eq_(0).any())
        if w.source is not None:
            src = reader.rows(w.source, r0, r1).float().view(-1)
            diff = deq.float().view(-1).sub_(src)
            w.err_sq += float(torch.dot(diff, diff))
            w.ref_sq += float(torch.dot(src, src))
            if diff.numel():
                w.max_abs = max(w.max_abs, float(diff.abs_().max()))
    if not finite:
        w.problems.append(f"{w.name}: dequantized weight has NaN or Inf")
    if minus8:
        w.problems.append(f"{w.name}: code -8 present, symmetric INT4 uses [-7, 7]")
    if ref is not None:
        w.reference = ref[0]


def _reference_pass(torch: ModuleType, reader: _Reader, w: _Work, params: Params, refs: _References) -> None:
    """The reference comparison for a module the first pass saw before the reference was imported."""
    ref = refs.get(w)
    if ref is None:
        return
    w.reference = ref[0]
    block_rows = params.format.block_rows(params)
    for r0, r1 in _slabs(w, block_rows):
        deq, tensors = _our_dequant(torch, reader, w, r0, r1, params)
        if not _compare(torch, w, ref, deq, tensors):
            return


def verify_checkpoint(dst: Path | str, source: Path | str | None = None, workers: int | None = None) -> VerifyReport:
    """Check DST's format and, with SOURCE, its error; problems are returned, not raised."""
    dst_ckpt = open_checkpoint(Path(dst))
    src_ckpt = open_checkpoint(Path(source)) if source is not None else None
    if is_dequantized_output(dst_ckpt, src_ckpt):
        return verify_dequantized(dst_ckpt, src_ckpt, workers)
    qc = _mode(dst_ckpt)
    params: Params = qc.params  # type: ignore[assignment]
    mode = params.mode
    torch = require_torch()
    with ThreadPoolExecutor(max_workers=1) as importer:
        preload: Future[None] = importer.submit(reference.preload, mode)  # overlaps pass 1
        plan = _Plan(dst_ckpt, src_ckpt)
        check_index(dst_ckpt, plan.problems)
        check_with_safetensors(dst_ckpt, plan.problems)
        _PLANS[type(params)](plan, qc)
        raw = qc.raw
        reader = _Reader(torch)
        previous = torch.get_num_threads()
        torch.set_num_threads(1)  # parallel over tensors, as in convert
        try:
            with ThreadPoolExecutor(max_workers=workers or usable_cores()) as pool:
                refs = _References(preload, params, raw)
                order = sorted(plan.work, key=lambda w: -sum(t.nbytes for _, t in w.parts.values()))
                for f in [pool.submit(_first_pass, torch, reader, w, params, refs) for w in order]:
                    f.result()
                late = [w for w in order if w.kind != "copy" and w.reference is None and not w.problems]
                for f in [pool.submit(_reference_pass, torch, reader, w, params, refs) for w in late]:
                    f.result()
                if refs.int4_error:
                    plan.problems.append(refs.int4_error)
        finally:
            torch.set_num_threads(previous)
            reader.close()
    work = sorted(plan.work, key=lambda w: w.name)
    problems = plan.problems + [p for w in work for p in w.problems]
    checks = [
        TensorCheck(
            w.name, w.kind,
            math.sqrt(w.err_sq) / max(math.sqrt(w.ref_sq), 1e-30) if w.source and w.kind != "copy" else None,
            w.max_abs if w.source and w.kind != "copy" else None,
        )
        for w in work
    ]  # fmt: skip
    if not any(w.kind != "copy" for w in work):
        problems.append("no quantized tensor found")
    err_sq, ref_sq = sum(w.err_sq for w in work), sum(w.ref_sq for w in work)
    overall = math.sqrt(err_sq / ref_sq) if src_ckpt is not None and ref_sq > 0 else None
    names = {w.reference for w in work} - {None}
    ref = ", ".join(sorted(names)) or "none installed (compressed-tensors / transformers); ours only"  # type: ignore[arg-type]
    return VerifyReport(Path(dst), mode, ref, tuple(checks), tuple(problems), overall)
