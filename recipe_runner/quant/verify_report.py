"""What `verify` reports, and the structural checks every verified checkpoint gets (index, safetensors itself).

A leaf shared by verify.py (quantized outputs) and verify_bf16.py (`convert bf16` outputs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .source import INDEX_NAME, Checkpoint


@dataclass(frozen=True)
class TensorCheck:
    name: str  # the module's weight name, e.g. model.layers.0.mlp.experts.0.down_proj.weight
    kind: str  # fp8 | int4 | copy
    rel_error: float | None  # ||dequant - source|| / ||source||, when the source is given
    max_abs_error: float | None


@dataclass(frozen=True)
class VerifyReport:
    dst: Path
    mode: str
    reference: str  # which third-party dequantizer agreed with ours, or why none ran
    tensors: tuple[TensorCheck, ...]
    problems: tuple[str, ...]
    overall_rel_error: float | None
    reference_elements: int = 0  # elements the consumer's code dequantized
    reference_seconds: dict[str, float] = field(default_factory=dict)  # its process's import and compare time

    @property
    def ok(self) -> bool:
        return not self.problems


def check_index(ckpt: Checkpoint, problems: list[str]) -> None:
    if ckpt.index is None:
        problems.append(f"{INDEX_NAME}: missing")
        return
    names = {t.name for _, t in ckpt.tensors()}
    unmapped = names - set(ckpt.index["weight_map"])
    if unmapped:
        problems.append(f"{INDEX_NAME}: {len(unmapped)} tensor(s) not in weight_map, e.g. {sorted(unmapped)[0]}")
    total = ckpt.index.get("metadata", {}).get("total_size")
    if total != ckpt.total_bytes:
        problems.append(f"{INDEX_NAME}: metadata.total_size is {total}, the shards hold {ckpt.total_bytes} bytes")


def check_with_safetensors(ckpt: Checkpoint, problems: list[str]) -> None:
    """safetensors itself must open every shard and see the tensors our header reader sees."""
    from safetensors import safe_open

    for shard in ckpt.shards:
        try:
            with safe_open(str(shard.path), framework="np") as f:
                names = set(f.keys())
        except Exception as e:  # safetensors raises its own error types
            problems.append(f"{shard.path.name}: safetensors cannot open it ({e})")
            continue
        if names != set(shard.tensors):
            problems.append(f"{shard.path.name}: safetensors lists other tensors than its header")
