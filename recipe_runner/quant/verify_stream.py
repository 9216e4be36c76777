"""`verify`'s per-element checks, streaming and torch-free: every byte of the output (and source) read once.

Per quantized module, row slabs are read at their known offsets by a pool of threads over modules (numpy
kernels and preads release the GIL), so memory is a slab per worker whatever the checkpoint size. Per
slab: scales finite, FP8 codes not NaN, INT4 codes in [-7, 7], and with the source our dequantization
(npmath, bit-identical to fp8.py / int4.py) against it: squared error, squared norm and max error.
Kept tensors are compared byte for byte with the source.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from recipe_runner.formats import Fp8Params, Int4Params, Params

from . import npmath
from .header import ShardHeader, TensorInfo
from .stream import read_into, slab_rows, slabs
from .verify_plan import _Work

SLAB_ELEMENTS = 1 << 20  # as the converter's CPU slabs: a worker's float32 temporaries stay small
_COMPARE_CHUNK = 8 << 20
_INT_DTYPES = {"I32": np.dtype("<i4"), "I64": np.dtype("<i8")}
Part = tuple[ShardHeader, TensorInfo]


class Reader:
    """Positional reads of row ranges as bytes; one file descriptor per file, shared by threads."""

    def __init__(self) -> None:
        self.fds: dict[object, int] = {}
        self.lock = threading.Lock()

    def fd(self, path: os.PathLike[str]) -> int:
        with self.lock:
            if path not in self.fds:
                self.fds[path] = os.open(path, os.O_RDONLY)
            return self.fds[path]

    def rows(self, part: Part, r0: int, r1: int) -> np.ndarray:
        """Rows [r0, r1) of a tensor as uint8 `[r1 - r0, row bytes]`."""
        shard, t = part
        row = t.nbytes // t.shape[0] if t.shape and t.shape[0] else t.nbytes
        buf = np.empty(((r1 - r0), row), dtype=np.uint8)
        read_into(self.fd(shard.path), shard.data_start + t.begin + r0 * row, memoryview(buf).cast("B"), t.name)
        return buf

    def same_bytes(self, a: Part, b: Part) -> bool:
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


def module_slabs(w: _Work, block_rows: int, target: int) -> Iterator[tuple[int, int]]:
    t = next(iter(w.parts.values()))[1]
    n, k = t.shape[0], (t.shape[1] * 8 if "weight_packed" in w.parts else t.shape[1])  # 8 INT4 codes per int32
    yield from slabs(n, max(1, min(n, slab_rows(k, block_rows, target))))  # no slab for 0 rows


def as_values(raw: np.ndarray, t: TensorInfo, rows: int) -> np.ndarray:
    """Float bytes of `rows` rows -> their float32 values (a float64 source is rounded, as torch's .float())."""
    cols = t.shape[1] if len(t.shape) > 1 else 1
    return npmath.as_float(raw, t.dtype, (rows, cols)).astype(np.float32, copy=False)


def read_slab(reader: Reader, w: _Work, r0: int, r1: int, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """The stored bytes of rows [r0, r1) of a quantized module: codes, and the scales' rows for them."""
    if isinstance(params, Fp8Params):
        bn = params.block_size[0]
        return reader.rows(w.parts["weight"], r0, r1), reader.rows(w.parts["weight_scale_inv"], r0 // bn, -(-r1 // bn))
    return reader.rows(w.parts["weight_packed"], r0, r1), reader.rows(w.parts["weight_scale"], r0, r1)


def dequantize(w: _Work, codes: np.ndarray, scale_bytes: np.ndarray, params: Params) -> tuple[np.ndarray, bool]:
    """A slab's weight as float32 (npmath, bit-identical to fp8.py / int4.py), and whether its scales are finite."""
    if isinstance(params, Fp8Params):
        s = as_values(scale_bytes, w.parts["weight_scale_inv"][1], len(scale_bytes))
        return npmath.fp8_dequantize(codes, s, params.block_size), bool(np.isfinite(s).all())
    t = w.parts["weight_scale"][1]
    s = as_values(scale_bytes, t, len(scale_bytes))
    return npmath.int4_dequantize(codes, s, t.dtype), bool(np.isfinite(s).all())


def _zero_nibble() -> np.ndarray:
    b = np.arange(256)
    return ((b & 0xF) == 0) | ((b >> 4) == 0)


_HAS_ZERO_NIBBLE = _zero_nibble()  # stored nibble = code + 8: a zero nibble is code -8


def check_module(reader: Reader, w: _Work, params: Params) -> None:
    """Finite, codes, shape record, error against the source; kept tensors byte-equal to the source."""
    if w.kind == "copy":
        if w.source is not None and not reader.same_bytes(w.parts["weight"], w.source):
            w.problems.append(f"{w.name}: kept tensor differs from the source")
        return
    if isinstance(params, Int4Params):
        shape_part = w.parts["weight_shape"]
        shape = reader.rows(shape_part, 0, 2).view(_INT_DTYPES[shape_part[1].dtype]).reshape(-1).tolist()
        packed_shape = w.parts["weight_packed"][1].shape
        if shape != [packed_shape[0], packed_shape[1] * 8]:
            w.problems.append(f"{w.name.removesuffix('.weight')}.weight_shape: {shape}, expected "
                              f"{[packed_shape[0], packed_shape[1] * 8]}")
            return
    block_rows = params.block_size[0] if isinstance(params, Fp8Params) else 1
    finite, minus8 = True, False
    scale_info = w.parts["weight_scale_inv" if isinstance(params, Fp8Params) else "weight_scale"][1]
    for r0, r1 in module_slabs(w, block_rows, SLAB_ELEMENTS):
        codes, scale_bytes = read_slab(reader, w, r0, r1, params)
        # the weight is finite iff the scales are and (FP8) no code is NaN (e4m3fn NaN: exponent, mantissa all 1)
        if isinstance(params, Fp8Params):
            finite = finite and not bool(np.any(np.bitwise_and(codes, 0x7F) == 0x7F))
        else:
            minus8 = minus8 or bool(_HAS_ZERO_NIBBLE[codes].any())
        if w.source is None:
            finite = finite and bool(np.isfinite(as_values(scale_bytes, scale_info, len(scale_bytes))).all())
            continue
        deq, scales_finite = dequantize(w, codes, scale_bytes, params)
        finite = finite and scales_finite
        src = as_values(reader.rows(w.source, r0, r1), w.source[1], r1 - r0).reshape(-1)
        diff = deq.reshape(-1)
        np.subtract(diff, src, out=diff)
        if diff.size:
            w.max_abs = max(w.max_abs, float(diff.max()), -float(diff.min()))
        w.err_sq += float(np.einsum("i,i", diff, diff))  # float32, pairwise: no temporary, no BLAS threads
        w.ref_sq += float(np.einsum("i,i", src, src))
    if not finite:
        w.problems.append(f"{w.name}: dequantized weight has NaN or Inf")
    if minus8:
        w.problems.append(f"{w.name}: code -8 present, symmetric INT4 uses [-7, 7]")


def check_all(work: list[_Work], params: Params, workers: int) -> None:
    """Run check_module over every module, largest first, on `workers` threads."""
    reader = Reader()
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            order = sorted(work, key=lambda w: -sum(t.nbytes for _, t in w.parts.values()))
            for f in [pool.submit(check_module, reader, w, params) for w in order]:
                f.result()
    finally:
        reader.close()
