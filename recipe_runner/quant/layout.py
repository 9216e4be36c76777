"""Plan a conversion from headers alone: per tensor, quantize or copy; per output shard, every offset.

Output shard i holds exactly the tensors derived from input shard i (same file name), so shards are
independent jobs and the index maps one-to-one. Knowing every output offset up front lets workers
write each tensor (even each row slab) straight to its place, in any order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recipe_runner.errors import user_error

from .header import OutTensor, ShardHeader, TensorInfo, encode_header, layout_tensors
from .params import Fp8Params, Int4Params, Params, QuantParams
from .rules import fp8_quantizes, int4_quantizes, is_router, nothing_quantized
from .source import Checkpoint

Entry = tuple[str, str, tuple[int, ...]]


@dataclass(frozen=True)
class SourcePart:
    """A companion source tensor a job also reads (a scale, a shape); it may sit in another shard."""

    role: str  # its name suffix: weight_scale_inv | weight_scale | weight_shape
    shard: ShardHeader
    info: TensorInfo


@dataclass(frozen=True)
class TensorJob:
    """Source tensors and the output tensors made from them, written into `shard`'s output file.

    `src` is the main tensor. Quantizing reads it alone (`copy`: 1 output, `fp8`: 2, `int4`: 3);
    dequantizing (`fp8-bf16`, `int4-bf16`) also reads its companions in `parts` and writes one BF16 weight.
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
class Layout:
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
        if isinstance(self.params, Fp8Params):
            return self.params.quantization_config([_module_name(n) for n in self.kept])
        assert isinstance(self.params, Int4Params), "a bf16 output has no quantization_config"
        return self.params.quantization_config()


def _module_name(name: str) -> str:
    """Upstream lists kept tensors with `.weight` removed (tools/convert_hf_to_fp8.py:133-149)."""
    return name[: -len(".weight")] if name.endswith(".weight") else name


def _outputs(kind: str, t: TensorInfo, params: Params) -> list[Entry]:
    base = t.name[: -len(".weight")]
    n, k = t.shape if len(t.shape) == 2 else (0, 0)
    if kind == "fp8":
        assert isinstance(params, Fp8Params)
        bn, bk = params.block_size
        return [(t.name, "F8_E4M3", t.shape), (f"{base}.weight_scale_inv", "F32", (-(-n // bn), -(-k // bk)))]
    if kind == "int4":
        assert isinstance(params, Int4Params)
        return [
            (f"{base}.weight_packed", "I32", (n, k // 8)),
            (f"{base}.weight_scale", t.dtype, (n, k // params.group_size)),
            (f"{base}.weight_shape", "I64", (2,)),
        ]
    return [(t.name, t.dtype, t.shape)]


def _kind(t: TensorInfo, params: Params) -> str:
    if isinstance(params, Fp8Params):
        return "fp8" if fp8_quantizes(t.name, t.shape) else "copy"
    if not int4_quantizes(t.name, t.shape, params.ignore):
        return "copy"
    if is_router(t.name):
        raise user_error(
            t.name,
            "is a MoE router and the INT4 ignore rules would quantize it",
            rule="routers stay in high precision (SGLang skips a packed router: all-zero routing)",
            hint="add an ignore rule for it, e.g. --ignore 're:.*mlp\\.gate\\..*'",
        )
    if t.shape[1] % params.group_size:
        raise user_error(
            t.name,
            f"input dim {t.shape[1]} is not a multiple of --group-size {params.group_size}",
            rule="INT4 groups run along the input dim and must tile it exactly",
            hint="pick a group size that divides every quantized weight's input dim, or ignore it",
        )
    return "int4"


def plan_conversion(ckpt: Checkpoint, params: QuantParams) -> Layout:
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
    return Layout(params, tuple(shards), tuple(sorted(quantized)), tuple(sorted(kept)))
