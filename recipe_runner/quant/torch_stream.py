"""The torch quantizers: on CPU, one slab at a time; on CUDA, read -> H2D -> quantize -> D2H -> write,
overlapped, through pinned buffers.

On CUDA each worker thread owns a CUDA stream and two slots (pinned input, pinned outputs, an event). While
the GPU works on slab i from one slot, the thread reads slab i+1 into the other; a slot's outputs are
written once its event fires, just before the slot is refilled. Copies from pinned memory are truly
asynchronous (pageable ones block the thread), and several workers keep disk, PCIe and GPU busy at once.
Bytes are the numpy path's: the same formulas (fp8.py, int4.py), tested by tests/quant/test_cuda.py
and tests/quant/test_npmath.py.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from recipe_runner.formats import Fp8Params, Params

from . import fp8, int4
from .progress import Progress
from .shard_plan import ConversionPlan, TensorJob
from .stream import Guard, Quantizer, Writer, cpu_slabs, read_into, row_align, row_bytes, slab_rows, slabs

CUDA_SLAB_ELEMENTS = 1 << 24  # 32 MiB of BF16 per transfer: few launches, bounded pinned memory
TORCH_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64"}


@dataclass
class _Slot:
    inp: Any  # pinned uint8
    out: tuple[Any, Any]  # pinned uint8: weight (fp8 / packed), scale
    event: Any
    pending: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # r0, rows, k, in bytes, scale cols


@contextmanager
def one_thread_per_worker(torch: ModuleType) -> Iterator[None]:
    """On CPU, parallelism comes from the workers; torch's own OpenMP team inside each small op then only
    adds barriers (measured 5x slower on a loaded 2-core host). Restored afterwards for library callers."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def torch_cpu_quantizer(torch: ModuleType, params: Params) -> Quantizer:
    """torch's CPU kernels, one slab at a time (run inside `one_thread_per_worker`)."""
    import numpy as np

    def quantize(
        shard: str, job: TensorJob, fds: Mapping[str, int], writer: Writer, progress: Progress, guard: Guard
    ) -> None:
        t = job.src
        n, k = t.shape
        dtype = getattr(torch, TORCH_DTYPES[t.dtype])
        if not isinstance(params, Fp8Params):
            writer.write(shard, job.outputs[2], 0, np.array([n, k], dtype=np.int64))
        for r0, r1, raw in cpu_slabs(job, fds, params, guard):
            x = torch.from_numpy(raw).view(dtype).view(r1 - r0, k)
            if isinstance(params, Fp8Params):
                q, s = fp8.quantize(x, params.block_size)
                guard.check_finite(job, bool(torch.isfinite(s).all()))
                writer.write(shard, job.outputs[0], r0 * k, q.contiguous().view(torch.uint8).numpy())
                writer.write(shard, job.outputs[1], (r0 // params.block_size[0]) * s.shape[1] * 4, s.numpy())
            else:
                p, s = int4.quantize(x, params.group_size)
                guard.check_finite(job, bool(torch.isfinite(s).all()))
                writer.write(shard, job.outputs[0], r0 * (k // 8) * 4, p.numpy())
                writer.write(shard, job.outputs[1], r0 * s.numel() // (r1 - r0) * s.element_size(),
                             s.contiguous().view(torch.uint8).numpy())
            progress.advance(len(raw))

    return quantize


def _out_bytes(params: Params, rows: int, k: int, elsize: int) -> tuple[int, int]:
    if isinstance(params, Fp8Params):
        bn, bk = params.block_size
        return rows * k, -(-rows // bn) * -(-k // bk) * 4
    return rows * k // 2, rows * (k // params.group_size) * elsize


def cuda_quantizer(torch: ModuleType, device: Any, layout: ConversionPlan) -> Quantizer:
    """A Quantizer whose per-thread slots are sized for the largest slab of `layout`."""
    params = layout.params
    jobs = [j for s in layout.shards for j in s.jobs if j.kind != "copy"]

    def slab(j: TensorJob) -> int:
        return min(j.src.shape[0], slab_rows(j.src.shape[1], row_align(params), CUDA_SLAB_ELEMENTS))

    in_max = max(slab(j) * row_bytes(j.src) for j in jobs)
    out_max = tuple(
        max(_out_bytes(params, slab(j), j.src.shape[1], row_bytes(j.src) // j.src.shape[1])[i] for j in jobs)
        for i in (0, 1)
    )
    local = threading.local()

    def slots() -> tuple[Any, list[_Slot]]:
        if not hasattr(local, "slots"):
            local.stream = torch.cuda.Stream(device)
            local.slots = [
                _Slot(
                    torch.empty(in_max, dtype=torch.uint8, pin_memory=True),
                    tuple(torch.empty(n, dtype=torch.uint8, pin_memory=True) for n in out_max),
                    torch.cuda.Event(),
                )
                for _ in range(2)
            ]
        return local.stream, local.slots

    def finish(slot: _Slot, shard: str, job: TensorJob, writer: Writer, progress: Progress, guard: Guard) -> None:
        slot.event.synchronize()
        for r0, rows, k, nbytes, scale_cols in slot.pending:
            w_bytes, s_bytes = _out_bytes(params, rows, k, row_bytes(job.src) // k)
            weight = slot.out[0][:w_bytes].numpy()
            scale = slot.out[1][:s_bytes].numpy()
            scale_dtype = getattr(torch, "float32" if isinstance(params, Fp8Params) else TORCH_DTYPES[job.src.dtype])
            guard.check_finite(job, bool(torch.isfinite(slot.out[1][:s_bytes].view(scale_dtype)).all()))
            if isinstance(params, Fp8Params):
                writer.write(shard, job.outputs[0], r0 * k, weight)
                writer.write(shard, job.outputs[1], (r0 // params.block_size[0]) * scale_cols * 4, scale)
            else:
                writer.write(shard, job.outputs[0], r0 * (k // 8) * 4, weight)
                writer.write(shard, job.outputs[1], r0 * s_bytes // rows, scale)
            progress.advance(nbytes)
        slot.pending.clear()

    def quantize(
        shard: str, job: TensorJob, fds: Mapping[str, int], writer: Writer, progress: Progress, guard: Guard
    ) -> None:
        fd = fds[str(job.shard.path)]
        import numpy as np

        stream, pair = slots()
        t = job.src
        n, k = t.shape
        rb = row_bytes(t)
        dtype = getattr(torch, TORCH_DTYPES[t.dtype])
        if not isinstance(params, Fp8Params):
            writer.write(shard, job.outputs[2], 0, np.array([n, k], dtype=np.int64))
        for i, (r0, r1) in enumerate(slabs(n, slab(job))):
            if guard.stop.is_set():
                return
            slot = pair[i % 2]
            finish(slot, shard, job, writer, progress, guard)
            nbytes = (r1 - r0) * rb
            read_into(fd, job.shard.data_start + t.begin + r0 * rb, memoryview(slot.inp[:nbytes].numpy()), t.name)
            with torch.cuda.stream(stream):
                x = slot.inp[:nbytes].to(device, non_blocking=True).view(dtype).view(r1 - r0, k)
                if isinstance(params, Fp8Params):
                    q, s = fp8.quantize(x, params.block_size)
                else:
                    q, s = int4.quantize(x, params.group_size)
                q_bytes = q.contiguous().view(torch.uint8).view(-1)
                s_bytes = s.contiguous().view(torch.uint8).view(-1)
                slot.out[0][: q_bytes.numel()].copy_(q_bytes, non_blocking=True)
                slot.out[1][: s_bytes.numel()].copy_(s_bytes, non_blocking=True)
                slot.event.record(stream)
            slot.pending.append((r0, r1 - r0, k, nbytes, s.shape[1]))
        for slot in pair:
            finish(slot, shard, job, writer, progress, guard)

    return quantize
