"""`inspect_checkpoint` (the `inspect` command): format, quantization_config, tensors quantized/kept and
sizes, from headers only.

Torch-free and fast on any size: it reads the JSON headers, config.json and conversion.json, no tensor data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipe_runner.formats import FORMATS

from .record import read_record
from .source import open_checkpoint

# tensors of a quantized module besides the one counted as its weight (scales, shapes, zero points)
_AUX_SUFFIXES = tuple(s for f in FORMATS.values() for s in f.aux_suffixes)


@dataclass(frozen=True)
class CheckpointSummary:
    root: Path
    format: str
    shards: int
    tensors: int
    quantized: int  # quantized weights (FP8 weights or INT4 packed weights)
    kept: int  # tensors stored as they were (norms, embeddings, router, ignored linears ...)
    total_bytes: int
    bytes_by_dtype: dict[str, int]
    quantization_config: dict[str, Any] | None
    conversion: dict[str, Any] | None  # conversion.json, when written by `recipe-runner convert`

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "root": str(self.root)}


def inspect_checkpoint(path: Path | str) -> CheckpointSummary:
    ckpt = open_checkpoint(Path(path))
    qc = ckpt.quant
    infos = [t for _, t in ckpt.tensors()]
    by_dtype: Counter[str] = Counter()
    for t in infos:
        by_dtype[t.dtype] += t.nbytes
    quantized = sum(1 for t in infos if any(f.quantized_base(t.name, t.dtype, t.shape) for f in FORMATS.values()))
    aux = sum(1 for t in infos if t.name.endswith(_AUX_SUFFIXES))
    return CheckpointSummary(
        root=ckpt.root,
        format=qc.description if qc else "unquantized (" + ", ".join(d for d, _ in by_dtype.most_common()) + ")",
        shards=len(ckpt.shards),
        tensors=len(infos),
        quantized=quantized,
        kept=len(infos) - quantized - aux,
        total_bytes=ckpt.total_bytes,
        bytes_by_dtype=dict(by_dtype.most_common()),
        quantization_config=qc.raw if qc else None,
        conversion=read_record(ckpt.root)[0],
    )
