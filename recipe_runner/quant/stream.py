"""Execute a Layout: read row slabs at known offsets, quantize, write each slab to its final offset.

Memory per worker is one slab (about `slab_elements` source elements plus temporaries), whatever the
tensor or shard size. Copied tensors move with `copy_file_range` (in-kernel, no user memory).
Workers are threads over tensors of all shards; torch kernels and file I/O release the GIL.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import torch

from recipe_runner.errors import user_error

from . import fp8, int4
from .header import OutTensor, TensorInfo
from .layout import Layout, TensorJob
from .params import Fp8Params, Int4Params
from .progress import Progress

# the source dtypes that are quantized (source.check_unquantized admits only these for weights)
TORCH_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}
CPU_SLAB_ELEMENTS = 1 << 20  # ~128-256 rows of a typical weight: temporaries stay in L2
CUDA_SLAB_ELEMENTS = 1 << 25  # large transfers, few kernel launches
_COPY_CHUNK = 64 << 20


class Writer:
    """Positional writes into pre-sized output files (header written first)."""

    def __init__(self, fds: dict[str, int], data_start: dict[str, int]) -> None:
        self.fds, self.data_start = fds, data_start

    def write(self, shard: str, t: OutTensor, byte_offset: int, data: torch.Tensor) -> None:
        view = memoryview(data.contiguous().view(torch.uint8).numpy()).cast("B")
        pos = self.data_start[shard] + t.begin + byte_offset
        while view:
            n = os.pwrite(self.fds[shard], view, pos)
            view, pos = view[n:], pos + n


def read_rows(fd: int, data_start: int, t: TensorInfo, r0: int, r1: int) -> torch.Tensor:
    """Rows [r0, r1) of a 2-D source tensor, read straight into a fresh CPU tensor."""
    row_bytes = t.nbytes // t.shape[0]
    buf = torch.empty((r1 - r0) * row_bytes, dtype=torch.uint8)
    view, pos = memoryview(buf.numpy()), data_start + t.begin + r0 * row_bytes
    while view:
        n = os.preadv(fd, [view], pos)
        if n == 0:
            raise OSError(errno.EIO, f"unexpected end of file reading {t.name}")
        view, pos = view[n:], pos + n
    return buf.view(TORCH_DTYPES[t.dtype]).view(r1 - r0, t.shape[1])


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


def _slabs(rows: int, cols: int, align: int, device: torch.device) -> Iterator[tuple[int, int]]:
    target = CUDA_SLAB_ELEMENTS if device.type == "cuda" else CPU_SLAB_ELEMENTS
    step = align * max(1, target // max(1, align * cols))
    for r0 in range(0, rows, step):
        yield r0, min(rows, r0 + step)


class Executor:
    """Runs every job of a Layout into `out_dir` on `device` with `workers` threads.

    A weight with NaN or Inf is refused (UserError naming it) unless `allow_nonfinite`: its scale would be
    NaN/Inf and the codes garbage. Detected on the scales (NaN/Inf propagate through amax), which are
    small. On any error or interrupt, queued jobs are cancelled and running ones stop at their next slab.
    """

    def __init__(
        self, layout: Layout, out_dir: Path, device: torch.device, workers: int, allow_nonfinite: bool = False
    ) -> None:
        self.layout, self.out_dir, self.device, self.workers = layout, out_dir, device, workers
        self.allow_nonfinite = allow_nonfinite
        self.stop = threading.Event()

    def run(self, progress: Progress) -> None:
        with ExitStack() as stack:
            src_fds: dict[str, int] = {}
            dst_fds: dict[str, int] = {}
            for plan in self.layout.shards:
                path = self.out_dir / plan.name
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
                stack.callback(os.close, fd)
                os.pwrite(fd, plan.header, 0)
                os.ftruncate(fd, plan.file_size)
                dst_fds[plan.name] = fd
                for job in plan.jobs:
                    key = str(job.shard.path)
                    if key not in src_fds:
                        src_fds[key] = os.open(job.shard.path, os.O_RDONLY)
                        stack.callback(os.close, src_fds[key])
            writer = Writer(dst_fds, {p.name: len(p.header) for p in self.layout.shards})
            jobs = [(p.name, j) for p in self.layout.shards for j in p.jobs]
            # Largest first so the pool does not end on one big tensor.
            jobs.sort(key=lambda pj: -pj[1].src.nbytes)
            pool = ThreadPoolExecutor(max_workers=self.workers)
            try:
                for future in [pool.submit(self._job, s, j, src_fds, writer, progress) for s, j in jobs]:
                    future.result()
            except BaseException:
                self.stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown()

    def _finite(self, job: TensorJob, scale: torch.Tensor) -> torch.Tensor:
        if not self.allow_nonfinite and not bool(torch.isfinite(scale).all()):
            raise user_error(
                f"{job.shard.path}: {job.src.name}",
                "has NaN or Inf values (or values beyond float32)",
                rule="a weight to be quantized must be finite: its scales and codes would be NaN/garbage",
                hint="fix the checkpoint, keep the tensor in high precision (int4: --ignore), "
                "or pass --allow-nonfinite to convert it anyway",
            )
        return scale

    def _job(self, shard: str, job: TensorJob, src_fds: dict[str, int], writer: Writer, progress: Progress) -> None:
        fd = src_fds[str(job.shard.path)]
        if job.kind == "copy":
            out = job.outputs[0]
            copy_range(
                fd,
                job.shard.data_start + job.src.begin,
                writer.fds[shard],
                writer.data_start[shard] + out.begin,
                job.src.nbytes,
            )
            progress.advance(job.src.nbytes)
            return
        n, k = job.src.shape
        params = self.layout.params
        if isinstance(params, Fp8Params):
            weight, scale = job.outputs
            bn, bk = params.block_size
            kb = -(-k // bk)
            for r0, r1 in _slabs(n, k, bn, self.device):
                if self.stop.is_set():
                    return
                x = read_rows(fd, job.shard.data_start, job.src, r0, r1).to(self.device)
                q, s = fp8.quantize(x, params.block_size)
                writer.write(shard, scale, (r0 // bn) * kb * 4, self._finite(job, s.cpu()))
                writer.write(shard, weight, r0 * k, q.cpu())
                progress.advance((r1 - r0) * k * x.element_size())
            return
        assert isinstance(params, Int4Params)
        packed, scale, shape = job.outputs
        g = params.group_size
        writer.write(shard, shape, 0, torch.tensor([n, k], dtype=torch.int64))
        for r0, r1 in _slabs(n, k, 1, self.device):
            if self.stop.is_set():
                return
            x = read_rows(fd, job.shard.data_start, job.src, r0, r1).to(self.device)
            p, s = int4.quantize(x, g)
            writer.write(shard, scale, r0 * (k // g) * s.element_size(), self._finite(job, s.cpu()))
            writer.write(shard, packed, r0 * (k // 8) * 4, p.cpu())
            progress.advance((r1 - r0) * k * x.element_size())
