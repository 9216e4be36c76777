"""Execute a ConversionPlan: read row slabs at known offsets, quantize, write each slab to its final offset.

Memory per worker is one slab (about `CPU_SLAB_ELEMENTS` source elements plus temporaries), whatever
the tensor or shard size. Copied tensors move with `copy_file_range` (in-kernel, no user memory).
Workers are threads over tensors of all shards; numpy kernels and file I/O release the GIL.
This module and the CPU math (npmath) import no torch; the CUDA path (cuda_stream) plugs in its own
`Quantizer` for the quantized tensors and shares everything else.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from recipe_runner.errors import user_error
from recipe_runner.formats import Fp8Params, Int4Params, Params

from . import npmath
from .header import OutTensor, TensorInfo
from .progress import Progress
from .shard_plan import ConversionPlan, TensorJob

CPU_SLAB_ELEMENTS = 1 << 20  # ~128-256 rows of a typical weight: temporaries stay in L2
_COPY_CHUNK = 64 << 20


class Writer:
    """Positional writes into pre-sized output files (header written first)."""

    def __init__(self, fds: dict[str, int], data_start: dict[str, int]) -> None:
        self.fds, self.data_start = fds, data_start

    def write(self, shard: str, t: OutTensor, byte_offset: int, data: np.ndarray) -> None:
        view = memoryview(np.ascontiguousarray(data)).cast("B")
        pos = self.data_start[shard] + t.begin + byte_offset
        while view:
            n = os.pwrite(self.fds[shard], view, pos)
            view, pos = view[n:], pos + n


class Guard:
    """What every quantizer obeys: stop at the next slab once a job failed or the run was interrupted, and
    refuse a weight with NaN or Inf unless `allow_nonfinite` (its scale would be NaN/Inf and the codes
    garbage). Non-finite values are detected on the scales (NaN/Inf propagate through amax), which are small.
    """

    def __init__(self, allow_nonfinite: bool = False) -> None:
        self.allow_nonfinite = allow_nonfinite
        self.stop = threading.Event()

    def check_finite(self, job: TensorJob, finite: bool) -> None:
        if not finite and not self.allow_nonfinite:
            raise user_error(
                f"{job.shard.path}: {job.src.name}",
                "has NaN or Inf values (or values beyond float32)",
                rule="a weight to be quantized must be finite: its scales and codes would be NaN/garbage",
                hint="fix the checkpoint, keep the tensor in high precision (int4: --ignore), "
                "or pass --allow-nonfinite to convert it anyway",
            )

    def check_finite_output(self, job: TensorJob, finite: bool) -> None:
        """Dequantizing: a NaN code, or a scale that is not finite or overflows BF16, gives NaN/Inf weights."""
        if not finite and not self.allow_nonfinite:
            raise user_error(
                f"{job.shard.path}: {job.src.name}",
                "dequantizes to NaN or Inf (a NaN code, or a scale that is not finite or overflows BF16)",
                rule="the BF16 weights training starts from must be finite",
                hint="fix the checkpoint, or pass --allow-nonfinite to convert it anyway",
            )


# (output shard name, job, source fds by path, writer, progress, guard): convert one job's tensor(s), write outputs
Quantizer = Callable[[str, TensorJob, Mapping[str, int], Writer, Progress, Guard], None]


def read_into(fd: int, pos: int, view: memoryview, name: str) -> None:
    """Fill `view` from `fd` at `pos` (short reads retried; EOF is an error naming the tensor)."""
    while view:
        n = os.preadv(fd, [view], pos)
        if n == 0:
            raise OSError(errno.EIO, f"unexpected end of file reading {name}")
        view, pos = view[n:], pos + n


def row_bytes(t: TensorInfo) -> int:
    return t.nbytes // t.shape[0]


def copy_range(src: int, src_pos: int, dst: int, dst_pos: int, count: int) -> None:
    """In-kernel copy; falls back to chunked pread/pwrite where copy_file_range is unsupported."""
    try:
        while count:
            n = os.copy_file_range(src, dst, count, src_pos, dst_pos)
            if n == 0:
                raise OSError(errno.EIO, "unexpected end of file while copying")
            src_pos, dst_pos, count = src_pos + n, dst_pos + n, count - n
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP):
            raise
        while count:
            chunk = os.pread(src, min(count, _COPY_CHUNK), src_pos)
            if not chunk:
                raise OSError(errno.EIO, "unexpected end of file while copying") from e
            os.pwrite(dst, chunk, dst_pos)
            src_pos, dst_pos, count = src_pos + len(chunk), dst_pos + len(chunk), count - len(chunk)


def slab_rows(cols: int, align: int, target: int) -> int:
    """Rows per slab: a multiple of `align` (whole FP8 tile rows) near `target` elements."""
    return align * max(1, target // max(1, align * cols))


def slabs(rows: int, step: int) -> Iterator[tuple[int, int]]:
    for r0 in range(0, rows, step):
        yield r0, min(rows, r0 + step)


def row_align(params: Params) -> int:
    return params.format.block_rows(params)


def cpu_slabs(job: TensorJob, fds: Mapping[str, int], params: Params,
              guard: Guard) -> Iterator[tuple[int, int, np.ndarray]]:
    """The CPU engines' reads of one source tensor: rows [r0, r1) as raw bytes in one reused buffer, slabs of
    whole scale blocks near CPU_SLAB_ELEMENTS; ends early once the run is failing."""
    fd, t = fds[str(job.shard.path)], job.src
    n, k = t.shape
    rb = row_bytes(t)
    step = slab_rows(k, row_align(params), CPU_SLAB_ELEMENTS)
    buf = np.empty(min(n, step) * rb, dtype=np.uint8)
    for r0, r1 in slabs(n, step):
        if guard.stop.is_set():
            return
        raw = buf[: (r1 - r0) * rb]
        read_into(fd, job.shard.data_start + t.begin + r0 * rb, memoryview(raw), t.name)
        yield r0, r1, raw


def run_layout(
    layout: ConversionPlan, out_dir: Path, workers: int, progress: Progress, quantize: Quantizer, guard: Guard
) -> None:
    """Write every output shard of `layout` into `out_dir`: copies here, quantized tensors by `quantize`.

    On any error or interrupt, queued jobs are cancelled and running ones stop at their next slab.
    """
    with ExitStack() as stack:
        src_fds: dict[str, int] = {}
        dst_fds: dict[str, int] = {}
        for plan in layout.shards:
            fd = os.open(out_dir / plan.name, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            stack.callback(os.close, fd)
            os.pwrite(fd, plan.header, 0)
            os.ftruncate(fd, plan.file_size)
            dst_fds[plan.name] = fd
            for job in plan.jobs:
                for path in (job.shard.path, *(p.shard.path for p in job.parts)):
                    if str(path) not in src_fds:
                        src_fds[str(path)] = os.open(path, os.O_RDONLY)
                        stack.callback(os.close, src_fds[str(path)])
        writer = Writer(dst_fds, {p.name: len(p.header) for p in layout.shards})
        jobs = [(p.name, j) for p in layout.shards for j in p.jobs]
        jobs.sort(key=lambda pj: -pj[1].nbytes)  # largest first so the pool does not end on one big tensor

        def one(shard: str, job: TensorJob) -> None:
            if job.kind != "copy":
                quantize(shard, job, src_fds, writer, progress, guard)
                return
            fd = src_fds[str(job.shard.path)]
            out = job.outputs[0]
            copy_range(
                fd, job.shard.data_start + job.src.begin, writer.fds[shard], writer.data_start[shard] + out.begin,
                job.src.nbytes,
            )  # fmt: skip
            progress.advance(job.src.nbytes)

        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            for future in [pool.submit(one, s, j) for s, j in jobs]:
                future.result()
        except BaseException:
            guard.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()


def cpu_quantizer(params: Params) -> Quantizer:
    """The numpy path: slabs small enough that a worker's temporaries stay in cache."""

    def quantize(
        shard: str, job: TensorJob, fds: Mapping[str, int], writer: Writer, progress: Progress, guard: Guard
    ) -> None:
        t = job.src
        n, k = t.shape
        if isinstance(params, Int4Params):
            writer.write(shard, job.outputs[2], 0, np.array([n, k], dtype=np.int64))
        else:
            floor = npmath.fp8_amax_floor(t.dtype)
        for r0, r1, raw in cpu_slabs(job, fds, params, guard):
            x = npmath.as_float(raw, t.dtype, (r1 - r0, k))
            if isinstance(params, Fp8Params):
                q, s = npmath.fp8_quantize(x, floor, params.block_size)
                guard.check_finite(job, bool(np.isfinite(s).all()))
                writer.write(shard, job.outputs[1], (r0 // params.block_size[0]) * s.shape[1] * 4, s)
                writer.write(shard, job.outputs[0], r0 * k, q)
            else:
                p, s = npmath.int4_quantize(x, params.group_size, t.dtype)
                scale_values = npmath.as_float(s.view(np.uint8), t.dtype, s.shape)
                guard.check_finite(job, bool(np.isfinite(scale_values).all()))
                writer.write(shard, job.outputs[1], r0 * s.shape[1] * s.itemsize, s)
                writer.write(shard, job.outputs[0], r0 * (k // 8) * 4, p)
            progress.advance(len(raw))

    return quantize
