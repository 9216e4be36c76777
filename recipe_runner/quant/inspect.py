"""`inspect_checkpoint`: format, quantization_config, tensors quantized/kept and sizes, from headers only.

Torch-free and fast on any size: it reads the JSON headers, config.json and conversion.json, no tensor data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .record import read_record
from .source import open_checkpoint

_AUX_SUFFIXES = (".weight_scale_inv", ".weight_scale", ".weight_shape", ".weight_zero_point")


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


def _format(qc: dict[str, Any] | None, dtypes: Counter[str]) -> str:
    if not qc:
        return "unquantized (" + ", ".join(d for d, _ in dtypes.most_common()) + ")"
    if qc.get("quant_method") == "fp8":
        block = qc.get("weight_block_size")
        return f"fp8 e4m3 block {block[0]}x{block[1]}" if block else "fp8 e4m3 (per-tensor)"
    if qc.get("quant_method") == "compressed-tensors":
        w = (qc.get("config_groups") or {}).get("group_0", {}).get("weights", {})
        sym = "symmetric" if w.get("symmetric") else "asymmetric"
        return f"compressed-tensors {qc.get('format')} int{w.get('num_bits')} group {w.get('group_size')} {sym}"
    return f"quantized ({qc.get('quant_method')})"


def inspect_checkpoint(path: Path | str) -> CheckpointSummary:
    ckpt = open_checkpoint(Path(path))
    qc = (ckpt.config or {}).get("quantization_config")
    infos = [t for _, t in ckpt.tensors()]
    by_dtype: Counter[str] = Counter()
    for t in infos:
        by_dtype[t.dtype] += t.nbytes
    quantized = sum(1 for t in infos if t.dtype == "F8_E4M3" or t.name.endswith(".weight_packed"))
    aux = sum(1 for t in infos if t.name.endswith(_AUX_SUFFIXES))
    return CheckpointSummary(
        root=ckpt.root,
        format=_format(qc, by_dtype),
        shards=len(ckpt.shards),
        tensors=len(infos),
        quantized=quantized,
        kept=len(infos) - quantized - aux,
        total_bytes=ckpt.total_bytes,
        bytes_by_dtype=dict(by_dtype.most_common()),
        quantization_config=qc,
        conversion=read_record(ckpt.root),
    )
