"""Plan a conversion from headers alone: per tensor, quantize or copy; per output shard, every offset.

Output shard i holds exactly the tensors derived from input shard i (same file name), so shards are
independent jobs and the index maps one-to-one. Knowing every output offset up front lets workers
write each tensor (even each row slab) straight to its place, in any order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recipe_runner.errors import user_error
from recipe_runner.formats import Params, nothing_quantized
from recipe_runner.formats.base import Entry

from .header import OutTensor, ShardHeader, TensorInfo, encode_header, layout_tensors
from .source import Checkpoint


@dataclass(frozen=True)
class TensorJob:
    """One source tensor and the output tensors made from it; `kind` is `copy` or the conversion (fp8, int4)."""

    kind: str
    shard: ShardHeader
    src: TensorInfo
    outputs: tuple[OutTensor, ...]


@dataclass(frozen=True)
class ShardPlan:
    name: str
    header: bytes
    tensors: tuple[OutTensor, ...]
    jobs: tuple[TensorJob, ...]

    @property
    def file_size(self) -> int:
        return len(self.header) + max((t.end for t in self.tensors), default=0)


@dataclass(frozen=True)
class ConversionPlan:
    params: Params
    shards: tuple[ShardPlan, ...]
    quantized: tuple[str, ...]  # source tensor names
    kept: tuple[str, ...]

    @property
    def weight_map(self) -> dict[str, str]:
        return {t.name: s.name for s in self.shards for t in s.tensors}

    @property
    def total_size(self) -> int:
        """Bytes of tensor data, what `metadata.total_size` means (slime writes a sum of first dims)."""
        return sum(t.end - t.begin for s in self.shards for t in s.tensors)

    def quantization_config(self) -> dict[str, Any]:
        return self.params.format.quantization_config(self.params, self.kept)


def _outputs(kind: str, t: TensorInfo, params: Params) -> list[Entry]:
    if kind == "copy":
        return [(t.name, t.dtype, t.shape)]
    return params.format.outputs(t.name, t.dtype, t.shape, params)


def _kind(t: TensorInfo, params: Params) -> str:
    if not params.format.quantizes(t.name, t.shape, params):
        return "copy"
    params.format.check_quantized(t.name, t.shape, params)
    return params.mode


def plan_conversion(ckpt: Checkpoint, params: Params) -> ConversionPlan:
    shards, quantized, kept = [], [], []
    for shard in ckpt.shards:
        kinds = {t.name: _kind(t, params) for t in shard.tensors.values()}
        for name, kind in kinds.items():
            (kept if kind == "copy" else quantized).append(name)
        entries = [e for t in shard.tensors.values() for e in _outputs(kinds[t.name], t, params)]
        placed = {o.name: o for o in layout_tensors(entries)}
        jobs = tuple(
            TensorJob(kinds[t.name], shard, t, tuple(placed[e[0]] for e in _outputs(kinds[t.name], t, params)))
            for t in sorted(shard.tensors.values(), key=lambda t: t.begin)
        )
        tensors = tuple(placed.values())
        shards.append(ShardPlan(shard.path.name, encode_header(list(tensors), {"format": "pt"}), tensors, jobs))
    if not quantized:
        message, rule = nothing_quantized(params.mode)
        raise user_error(
            str(ckpt.root),
            message,
            rule=rule,
            hint="INT4 with default rules needs a MoE model (a dense model has no routed experts); "
            "use fp8 for dense models, or pass --no-default-ignore with your own --ignore rules",
        )
    return ConversionPlan(params, tuple(shards), tuple(sorted(quantized)), tuple(sorted(kept)))
