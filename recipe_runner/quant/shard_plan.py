"""Plan a conversion from headers alone: per tensor, quantize or copy; per output shard, every offset.

Output shard i holds exactly the tensors derived from input shard i (same file name), so shards are
independent jobs and the index maps one-to-one. Knowing every output offset up front lets workers
write each tensor (even each row slab) straight to its place, in any order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recipe_runner.errors import user_error
from recipe_runner.formats import Params, QuantParams, nothing_quantized
from recipe_runner.formats.base import Entry

from .header import OutTensor, ShardHeader, TensorInfo, encode_header, layout_tensors
from .source import Checkpoint


@dataclass(frozen=True)
class SourcePart:
    """A companion source tensor a job also reads (a scale, a shape); it may sit in another shard."""

    role: str  # its name suffix: weight_scale_inv | weight_scale | weight_shape
    shard: ShardHeader
    info: TensorInfo


@dataclass(frozen=True)
class TensorJob:
    """Source tensors and the output tensors made from them, written into `shard`'s output file.

    `src` is the main tensor; `kind` is `copy` or the conversion. Quantizing reads it alone (`copy`: 1 output,
    `fp8`: 2, `int4`: 3); dequantizing (`fp8-bf16`, `int4-bf16`) also reads its companions in `parts` and
    writes one BF16 weight.
    """

    kind: str
    shard: ShardHeader
    src: TensorInfo
    outputs: tuple[OutTensor, ...]
    parts: tuple[SourcePart, ...] = ()

    def part(self, role: str) -> SourcePart:
        return next(p for p in self.parts if p.role == role)

    @property
    def nbytes(self) -> int:
        """Source bytes this job reads (what the progress line counts)."""
        return self.src.nbytes + sum(p.info.nbytes for p in self.parts)


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
    quantized: tuple[str, ...]  # source tensor names (bf16: the main tensors dequantized)
    kept: tuple[str, ...]
    source: QuantParams | None = None  # bf16: the format the source is dequantized from

    @property
    def weight_map(self) -> dict[str, str]:
        return {t.name: s.name for s in self.shards for t in s.tensors}

    @property
    def total_size(self) -> int:
        """Bytes of tensor data, what `metadata.total_size` means (slime writes a sum of first dims)."""
        return sum(t.end - t.begin for s in self.shards for t in s.tensors)

    def quantization_config(self) -> dict[str, Any]:
        """The block written into config.json (a bf16 output has none: record.py drops it)."""
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


def plan_conversion(ckpt: Checkpoint, params: QuantParams) -> ConversionPlan:
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
