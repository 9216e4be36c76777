"""Safetensors headers in pure Python: read, validate and encode them without torch.

The format (8-byte little-endian header length, JSON header, contiguous data) is small enough
to handle directly; doing so lets the converter plan from headers alone, read slabs at known
offsets and write output files tensor by tensor at precomputed offsets.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from .jsonfile import is_int, parse_json

# safetensors dtype string -> element size in bytes
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
FLOAT_SOURCE_DTYPES = frozenset({"BF16", "F16", "F32", "F64"})
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the limit safetensors itself enforces
# No real tensor comes near these; they keep shape arithmetic (and a zero-size tensor's other dims) sane.
MAX_RANK = 16
MAX_DIM = 1 << 40


class HeaderError(ValueError):
    """The file is not a well-formed safetensors file (truncated, bad JSON, bad offsets)."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor's entry: where its bytes are relative to the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.begin


@dataclass(frozen=True)
class ShardHeader:
    """A parsed and validated safetensors file header."""

    path: Path
    tensors: dict[str, TensorInfo]
    data_start: int  # absolute file offset of the data section

    @property
    def data_size(self) -> int:
        return max((t.end for t in self.tensors.values()), default=0)


def tensor_nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    return DTYPE_SIZES[dtype] * math.prod(shape)


def read_header(path: Path) -> ShardHeader:
    """Parse `path`'s header and check that the offsets tile the data section exactly up to EOF."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise HeaderError(f"{size} bytes, shorter than the 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise HeaderError(f"header length {n} does not fit in a {size}-byte file")
        raw = f.read(n)
    obj = parse_json(raw, HeaderError)
    if not isinstance(obj, dict):
        raise HeaderError("header is not a JSON object")
    meta = obj.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise HeaderError("__metadata__ must map strings to strings")
    tensors = {name: _tensor_info(name, entry) for name, entry in obj.items()}
    cursor = 0
    for t in sorted(tensors.values(), key=lambda t: (t.begin, t.end)):
        if t.begin != cursor:
            raise HeaderError(f"tensor {t.name!r} starts at {t.begin}, expected {cursor} (gap or overlap)")
        cursor = t.end
    if 8 + n + cursor != size:
        raise HeaderError(f"data should end at byte {8 + n + cursor} but the file has {size} (truncated?)")
    return ShardHeader(path, tensors, 8 + n)


def _tensor_info(name: str, entry: object) -> TensorInfo:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise HeaderError(f"tensor {name!r} has a malformed entry (needs dtype, shape, data_offsets)")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
        raise HeaderError(f"tensor {name!r} has unsupported dtype {dtype!r} (known: {', '.join(DTYPE_SIZES)})")
    if (
        not isinstance(shape, list)
        or len(shape) > MAX_RANK
        or not all(is_int(d) and 0 <= d <= MAX_DIM for d in shape)
    ):
        raise HeaderError(
            f"tensor {name!r} has a bad shape {shape!r} (at most {MAX_RANK} integer dims in [0, 2^40])"
        )
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(is_int(o) and o >= 0 for o in offsets)):
        raise HeaderError(f"tensor {name!r} has bad data_offsets {offsets!r} (two non-negative integers)")
    begin, end = offsets
    if end - begin != tensor_nbytes(dtype, tuple(shape)):
        raise HeaderError(f"tensor {name!r}: offsets [{begin}, {end}] do not match {dtype} {shape}")
    return TensorInfo(name, dtype, tuple(shape), begin, end)


@dataclass(frozen=True)
class OutTensor:
    """A tensor to be written, with its place in the output file's data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int

    @property
    def end(self) -> int:
        return self.begin + tensor_nbytes(self.dtype, self.shape)


def layout_tensors(entries: list[tuple[str, str, tuple[int, ...]]]) -> list[OutTensor]:
    """Assign offsets, widest dtype first (as safetensors' own writer does) so every tensor is aligned."""
    ordered = sorted(entries, key=lambda e: (-DTYPE_SIZES[e[1]], e[0]))
    out, cursor = [], 0
    for name, dtype, shape in ordered:
        t = OutTensor(name, dtype, tuple(shape), cursor)
        out.append(t)
        cursor = t.end
    return out


def encode_header(tensors: list[OutTensor], metadata: dict[str, str]) -> bytes:
    """The 8-byte length plus JSON header, space-padded to 8 bytes so the data section is aligned."""
    obj: dict[str, object] = {"__metadata__": metadata}
    for t in tensors:
        obj[t.name] = {"dtype": t.dtype, "shape": list(t.shape), "data_offsets": [t.begin, t.end]}
    raw = json.dumps(obj, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw
