"""Plan `convert bf16`: per quantized module, its source tensors -> one BF16 weight; everything else copied.

Made from the headers (and, for INT4, the 16-byte `weight_shape` tensors) before any byte is written, so
every mismatch is bad input found up front: a missing or misshapen scale or shape, a companion without its
weight, a weight of the wrong dtype or rank. A module's BF16 weight goes into the output shard named after
the shard of its main tensor (`weight` for FP8, `weight_packed` for INT4); its scale (and shape) may sit in
any shard, as DeepSeek's own cast allows (THUDM/slime@624b824a:tools/fp8_cast_bf16.py:61-66 looks scales up
across files). Shards left with no tensor are not written.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from recipe_runner.errors import UserError, user_error
from recipe_runner.formats import QUANT_TENSOR_SUFFIXES, Bf16Params, Fp8Params, Int4Params, QuantParams

from .header import ShardHeader, TensorInfo, encode_header, layout_tensors
from .shard_plan import ConversionPlan, ShardPlan, SourcePart, TensorJob
from .source import Checkpoint

FLOAT_SCALE_DTYPES = ("F32", "BF16", "F16")  # DeepSeek writes F32 scales, compressed-tensors the weight dtype
SHAPE_DTYPES = {"I64": "<2q", "I32": "<2i"}  # compressed-tensors writes int64, slime int32 (struct formats)
_RULE = "every quantized weight is dequantized from its companions: FP8 `weight` + `weight_scale_inv` " \
        "[ceil(N/bn), ceil(K/bk)]; INT4 `weight_packed` [N, K/8] + `weight_scale` [N, K/G] + `weight_shape` (N, K)"
_HINT = "the checkpoint is incomplete or not what its config.json says; re-download it"

Part = tuple[ShardHeader, TensorInfo]


@dataclass(frozen=True)
class _Module:
    kind: str  # fp8-bf16 | int4-bf16
    main: Part
    parts: tuple[SourcePart, ...]
    shape: tuple[int, int]  # the BF16 weight's

    @property
    def out_name(self) -> str:
        return self.main[1].name.rsplit(".", 1)[0] + ".weight"


def _bad(part: Part, message: str, rule: str = _RULE, hint: str = _HINT) -> UserError:
    return user_error(f"{part[0].path}: {part[1].name}", message, rule=rule, hint=hint)


def _companion(tensors: dict[str, Part], main: Part, role: str, dtypes: tuple[str, ...],
               shape: tuple[int, ...] | None) -> SourcePart:
    """`<module>.<role>` beside `main`, with one of `dtypes` and `shape` (None: any)."""
    name = main[1].name.rsplit(".", 1)[0] + "." + role
    part = tensors.get(name)
    if part is None:
        raise _bad(main, f"has no {role}: {name} is in no shard")
    t = part[1]
    if t.dtype not in dtypes or (shape is not None and t.shape != shape):
        want = "/".join(dtypes) + ("" if shape is None else f" {list(shape)}")
        raise _bad(part, f"is {t.dtype} {list(t.shape)}, expected {want} for {main[1].name} "
                         f"{main[1].dtype} {list(main[1].shape)}")
    return SourcePart(role, part[0], t)


def _fp8_modules(tensors: dict[str, Part], fmt: Fp8Params) -> list[_Module]:
    bn, bk = fmt.block_size
    out = []
    for part in tensors.values():
        t = part[1]
        if not t.dtype.startswith("F8_"):
            continue
        if t.dtype != "F8_E4M3" or not t.name.endswith(".weight") or len(t.shape) != 2:
            raise _bad(part, f"is {t.dtype} {list(t.shape)}, not a 2-D float8_e4m3fn `.weight`",
                       rule="block-FP8 checkpoints (DeepSeek-V3 style) store 2-D e4m3 weights")
        n, k = t.shape
        scale = _companion(tensors, part, "weight_scale_inv", FLOAT_SCALE_DTYPES, (-(-n // bn), -(-k // bk)))
        out.append(_Module("fp8-bf16", part, (scale,), (n, k)))
    return out


def _read_shape(fds: dict[str, int], p: SourcePart) -> tuple[int, ...]:
    path = str(p.shard.path)
    if path not in fds:
        fds[path] = os.open(path, os.O_RDONLY)
    raw = os.pread(fds[path], p.info.nbytes, p.shard.data_start + p.info.begin)
    return struct.unpack(SHAPE_DTYPES[p.info.dtype], raw)


def _int4_modules(tensors: dict[str, Part], fmt: Int4Params) -> list[_Module]:
    g = fmt.group_size
    out = []
    fds: dict[str, int] = {}
    try:
        for part in tensors.values():
            t = part[1]
            if not t.name.endswith(".weight_packed"):
                continue
            if t.dtype != "I32" or len(t.shape) != 2:
                raise _bad(part, f"is {t.dtype} {list(t.shape)}, not a 2-D int32 [N, K/8] tensor",
                           rule="pack-quantized INT4 packs 8 codes per int32 along the input dim")
            base = t.name[: -len(".weight_packed")]
            for clash in (f"{base}.weight", f"{base}.weight_zero_point"):
                if clash in tensors:
                    raise _bad(tensors[clash], f"sits beside {t.name}",
                               rule="a symmetric INT4 module has weight_packed, weight_scale and weight_shape only "
                                    "(a zero point means asymmetric INT4, which is not supported)")
            shape_part = _companion(tensors, part, "weight_shape", tuple(SHAPE_DTYPES), (2,))
            shape = _read_shape(fds, shape_part)
            n, packed_cols = t.shape
            if shape[0] != n or shape[1] <= 0 or -(-shape[1] // 8) != packed_cols:
                raise _bad((shape_part.shard, shape_part.info),
                           f"holds {list(shape)}, which does not fit {t.name} {list(t.shape)} (N, ceil(K/8))")
            k = shape[1]
            if k % g:
                raise _bad(part, f"has input dim {k}, not a multiple of the group size {g}",
                           rule="groups must tile the input dim (compressed-tensors' decompressor refuses it too)",
                           hint="check quantization_config.config_groups.group_0.weights.group_size")
            scale = _companion(tensors, part, "weight_scale", FLOAT_SCALE_DTYPES, (n, k // g))
            out.append(_Module("int4-bf16", part, (scale, shape_part), (n, k)))
    finally:
        for fd in fds.values():
            os.close(fd)
    return out


def plan_dequantization(ckpt: Checkpoint, fmt: QuantParams) -> ConversionPlan:
    """The layout of the BF16 checkpoint dequantized from `ckpt`, whose format is `fmt`."""
    tensors = {t.name: (s, t) for s, t in ckpt.tensors()}
    modules = _fp8_modules(tensors, fmt) if isinstance(fmt, Fp8Params) else _int4_modules(tensors, fmt)
    if not modules:
        raise user_error(
            str(ckpt.root), f"holds no {fmt.mode} quantized weight although config.json has a quantization_config",
            rule=_RULE, hint="remove the quantization_config if the checkpoint is BF16, or re-download it",
        )
    consumed = {m.main[1].name for m in modules} | {p.info.name for m in modules for p in m.parts}
    for name, part in tensors.items():
        if name not in consumed and (name.endswith(QUANT_TENSOR_SUFFIXES) or part[1].dtype.startswith("F8_")):
            raise _bad(part, f"is a quantization tensor ({part[1].dtype}) that belongs to no {fmt.mode} weight",
                       hint="its weight is missing or of another format; re-download the checkpoint")
    by_shard: dict[str, list[_Module]] = {}
    for m in modules:
        by_shard.setdefault(m.main[0].path.name, []).append(m)
    shards = []
    for shard in ckpt.shards:
        mods = by_shard.get(shard.path.name, [])
        copies = [t for t in shard.tensors.values() if t.name not in consumed]
        if not mods and not copies:
            continue
        placed = {o.name: o for o in layout_tensors(
            [(t.name, t.dtype, t.shape) for t in copies] + [(m.out_name, "BF16", m.shape) for m in mods])}
        jobs = [TensorJob("copy", shard, t, (placed[t.name],)) for t in copies]
        jobs += [TensorJob(m.kind, m.main[0], m.main[1], (placed[m.out_name],), m.parts) for m in mods]
        tensors_out = tuple(placed.values())
        shards.append(ShardPlan(shard.path.name, encode_header(list(tensors_out), {"format": "pt"}), tensors_out,
                                tuple(jobs)))
    return ConversionPlan(Bf16Params(), tuple(shards), tuple(sorted(m.main[1].name for m in modules)),
                  tuple(sorted(j.src.name for s in shards for j in s.jobs if j.kind == "copy")), fmt)
