"""The `convert bf16` dequantizers: row slabs of a quantized weight and its scales -> BF16 rows at their offset.

Each engine reads the weight's rows (FP8 bytes or packed int32 words) and the scale rows that cover them,
dequantizes with the same formula (npmath / fp8.py / int4.py), checks the result is finite, and writes the
BF16 slab straight to its place, so memory is a slab per worker as in the quantizing direction. The FP8 slabs
hold whole tile rows. The CUDA engine overlaps reads, transfers and math through two pinned slots per
worker, as torch_stream does.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from recipe_runner.formats import Fp8Params, QuantParams

from . import npmath
from .header import ShardHeader, TensorInfo
from .progress import Progress
from .shard_plan import ConversionPlan, SourcePart, TensorJob
from .stream import CPU_SLAB_ELEMENTS, Guard, Quantizer, Writer, read_into, slab_rows, slabs

CUDA_SLAB_ELEMENTS = 1 << 24  # 32 MiB of BF16 output per transfer
_BF16 = 2


@dataclass(frozen=True)
class _Slab:
    """Where one slab's inputs are: weight rows [r0, r1) and the scale rows [s0, s1) that cover them."""

    r0: int
    r1: int
    s0: int
    s1: int


def _scale(job: TensorJob) -> SourcePart:
    return job.part("weight_scale_inv" if job.kind == "fp8-bf16" else "weight_scale")


def _slabs(job: TensorJob, fmt: QuantParams, target: int) -> list[_Slab]:
    n, k = job.outputs[0].shape
    if not n * k:  # a zero-size weight: nothing to read or write
        return []
    if isinstance(fmt, Fp8Params):
        bn = fmt.block_size[0]
        return [_Slab(r0, r1, r0 // bn, -(-r1 // bn)) for r0, r1 in slabs(n, slab_rows(k, bn, target))]
    return [_Slab(r0, r1, r0, r1) for r0, r1 in slabs(n, slab_rows(k, 1, target))]


def _row_bytes(t: TensorInfo) -> int:
    return t.nbytes // t.shape[0] if t.shape[0] else 0


def _read(fds: Mapping[str, int], shard: ShardHeader, t: TensorInfo, r0: int, view: memoryview) -> None:
    """Rows from r0 of `t` into `view` (its length says how many)."""
    read_into(fds[str(shard.path)], shard.data_start + t.begin + r0 * _row_bytes(t), view, t.name)


def _read_slab(fds: Mapping[str, int], job: TensorJob, s: _Slab, q_view: memoryview, s_view: memoryview) -> int:
    """Fill the views with the slab's weight and scale rows; the source bytes read."""
    sc = _scale(job)
    _read(fds, job.shard, job.src, s.r0, q_view)
    _read(fds, sc.shard, sc.info, s.s0, s_view)
    return len(q_view) + len(s_view)


def _done_extra(job: TensorJob, progress: Progress) -> None:
    """Count the companion read whole at plan time (INT4 weight_shape) once the job is written."""
    progress.advance(sum(p.info.nbytes for p in job.parts if p.role == "weight_shape"))


def _bf16_finite(bits: np.ndarray) -> bool:
    return not bool(((bits.view(np.uint16) & 0x7F80) == 0x7F80).any())


def _slab_engine(fmt: QuantParams, dequantize_slab: Any) -> Quantizer:
    """The CPU engines' loop: per slab, `dequantize_slab(fds, job, slab, k, scale_info)` reads and dequantizes
    it, returning (source bytes read, BF16 rows as 16-bit words, all finite); the loop checks, writes, counts."""

    def run(shard: str, job: TensorJob, fds: Mapping[str, int], writer: Writer, progress: Progress,
            guard: Guard) -> None:
        k = job.outputs[0].shape[1]
        sc = _scale(job).info
        for s in _slabs(job, fmt, CPU_SLAB_ELEMENTS):
            if guard.stop.is_set():
                return
            nbytes, out, finite = dequantize_slab(fds, job, s, k, sc)
            guard.check_finite_output(job, finite)
            writer.write(shard, job.outputs[0], s.r0 * k * _BF16, out)
            progress.advance(nbytes)
        _done_extra(job, progress)

    return run


def cpu_dequantizer(fmt: QuantParams) -> Quantizer:
    """numpy: the slab's bytes -> float32 by table lookups -> one float32 multiply -> bf16 rounding."""

    def dequantize_slab(fds: Mapping[str, int], job: TensorJob, s: _Slab, k: int,
                        sc: TensorInfo) -> tuple[int, np.ndarray, bool]:
        q = np.empty((s.r1 - s.r0) * _row_bytes(job.src), dtype=np.uint8)
        raw_scale = np.empty((s.s1 - s.s0) * _row_bytes(sc), dtype=np.uint8)
        nbytes = _read_slab(fds, job, s, memoryview(q), memoryview(raw_scale))
        scale = npmath.as_float(raw_scale, sc.dtype, (s.s1 - s.s0, sc.shape[1]))
        if isinstance(fmt, Fp8Params):
            out = npmath.fp8_dequantize_bf16(q.reshape(s.r1 - s.r0, k), scale, fmt.block_size)
        else:
            out = npmath.int4_dequantize_bf16(q.reshape(s.r1 - s.r0, k // 2), scale, fmt.group_size)
        return nbytes, out, _bf16_finite(out)

    return _slab_engine(fmt, dequantize_slab)


def _torch_math(torch: ModuleType, fmt: QuantParams, q: Any, scale: Any, rows: int, k: int) -> Any:
    """Bytes of a slab (on any device) -> its BF16 rows, by fp8.py / int4.py."""
    from . import fp8, int4

    if isinstance(fmt, Fp8Params):
        return fp8.dequantize_bf16(q.view(torch.float8_e4m3fn).view(rows, k), scale, fmt.block_size)
    return int4.dequantize(q.view(torch.int32).view(rows, k // 8), scale, k, torch.bfloat16)


_TORCH_SCALE = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}


def torch_cpu_dequantizer(torch: ModuleType, fmt: QuantParams) -> Quantizer:
    """torch's CPU kernels, one slab at a time (run inside torch_stream.one_thread_per_worker)."""

    def dequantize_slab(fds: Mapping[str, int], job: TensorJob, s: _Slab, k: int,
                        sc: TensorInfo) -> tuple[int, np.ndarray, bool]:
        q = torch.empty((s.r1 - s.r0) * _row_bytes(job.src), dtype=torch.uint8)
        raw_scale = torch.empty((s.s1 - s.s0) * _row_bytes(sc), dtype=torch.uint8)
        nbytes = _read_slab(fds, job, s, memoryview(q.numpy()), memoryview(raw_scale.numpy()))
        scale = raw_scale.view(getattr(torch, _TORCH_SCALE[sc.dtype])).view(s.s1 - s.s0, sc.shape[1])
        out = _torch_math(torch, fmt, q, scale, s.r1 - s.r0, k)
        return nbytes, out.view(torch.int16).numpy(), bool(torch.isfinite(out).all())

    return _slab_engine(fmt, dequantize_slab)


@dataclass
class _Slot:
    q: Any  # pinned uint8: weight rows
    scale: Any  # pinned uint8: scale rows
    out: Any  # pinned uint8: BF16 rows
    event: Any
    pending: list[tuple[_Slab, int]] = field(default_factory=list)  # slab, source bytes


def cuda_dequantizer(torch: ModuleType, device: Any, layout: ConversionPlan) -> Quantizer:
    """A dequantizer whose per-thread pinned slots fit the largest slab of `layout`."""
    fmt = layout.source
    assert fmt is not None, "a bf16 layout records its source format"
    jobs = [j for s in layout.shards for j in s.jobs if j.kind != "copy"]
    slab_of = {id(j): _slabs(j, fmt, CUDA_SLAB_ELEMENTS) for j in jobs}
    sizes = [(s.r1 - s.r0) * _row_bytes(j.src) for j in jobs for s in slab_of[id(j)]]
    q_max = max(sizes, default=0)
    scale_max = max(((s.s1 - s.s0) * _row_bytes(_scale(j).info) for j in jobs for s in slab_of[id(j)]), default=0)
    out_max = max(((s.r1 - s.r0) * j.outputs[0].shape[1] * _BF16 for j in jobs for s in slab_of[id(j)]), default=0)
    local = threading.local()

    def slots() -> tuple[Any, list[_Slot]]:
        if not hasattr(local, "slots"):
            local.stream = torch.cuda.Stream(device)
            local.slots = [
                _Slot(*(torch.empty(max(n, 1), dtype=torch.uint8, pin_memory=True)
                        for n in (q_max, scale_max, out_max)), torch.cuda.Event())
                for _ in range(2)
            ]
        return local.stream, local.slots

    def finish(slot: _Slot, shard: str, job: TensorJob, writer: Writer, progress: Progress, guard: Guard) -> None:
        slot.event.synchronize()
        k = job.outputs[0].shape[1]
        for s, nbytes in slot.pending:
            out = slot.out[: (s.r1 - s.r0) * k * _BF16].numpy()
            guard.check_finite_output(job, _bf16_finite(out))
            writer.write(shard, job.outputs[0], s.r0 * k * _BF16, out)
            progress.advance(nbytes)
        slot.pending.clear()

    def run(shard: str, job: TensorJob, fds: Mapping[str, int], writer: Writer, progress: Progress,
            guard: Guard) -> None:
        stream, pair = slots()
        k = job.outputs[0].shape[1]
        sc = _scale(job).info
        scale_dtype = getattr(torch, _TORCH_SCALE[sc.dtype])
        for i, s in enumerate(slab_of[id(job)]):
            if guard.stop.is_set():
                for slot in pair:  # the run is failing: drop this job's slabs in flight, not written elsewhere
                    slot.event.synchronize()
                    slot.pending.clear()
                return
            slot = pair[i % 2]
            finish(slot, shard, job, writer, progress, guard)
            q_bytes = (s.r1 - s.r0) * _row_bytes(job.src)
            s_bytes = (s.s1 - s.s0) * _row_bytes(sc)
            nbytes = _read_slab(fds, job, s, memoryview(slot.q[:q_bytes].numpy()),
                                memoryview(slot.scale[:s_bytes].numpy()))
            with torch.cuda.stream(stream):
                q = slot.q[:q_bytes].to(device, non_blocking=True)
                scale = slot.scale[:s_bytes].to(device, non_blocking=True).view(scale_dtype).view(s.s1 - s.s0, -1)
                out = _torch_math(torch, fmt, q, scale, s.r1 - s.r0, k).view(torch.uint8).view(-1)
                slot.out[: out.numel()].copy_(out, non_blocking=True)
                slot.event.record(stream)
            slot.pending.append((s, nbytes))
        for slot in pair:
            finish(slot, shard, job, writer, progress, guard)
        _done_extra(job, progress)

    return run
