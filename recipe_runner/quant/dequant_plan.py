"""Plan `convert bf16`: per quantized module, its source tensors -> one BF16 weight; everything else copied.

Made from the headers (and, for INT4, the 16-byte `weight_shape` tensors) before any byte is written, so
every mismatch is bad input found up front: a missing or misshapen scale or shape, a companion without its
weight, a weight of the wrong dtype or rank. The source's format finds and checks each of its modules
(`Format.dequant_module`); this module only looks tensors up, refuses leftovers and lays the output out.
A module's BF16 weight goes into the output shard named after the shard of its main tensor (`weight` for
FP8, `weight_packed` for INT4); its scale (and shape) may sit in
any shard, as DeepSeek's own cast allows (THUDM/slime@624b824a:tools/fp8_cast_bf16.py:61-66 looks scales up
across files). Shards left with no tensor are not written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from recipe_runner.errors import UserError, user_error
from recipe_runner.formats import BF16, FORMATS, QUANT_TENSOR_DTYPES, QUANT_TENSOR_SUFFIXES, Bf16Params, QuantParams
from recipe_runner.formats.base import DequantModule

from .header import ShardHeader, TensorInfo, encode_header, layout_tensors
from .shard_plan import ConversionPlan, ShardPlan, SourcePart, TensorJob
from .source import Checkpoint

_RULE = "every quantized weight is dequantized from its companions: " + "; ".join(
    f.dequant_rule for f in FORMATS.values() if f.dequant_rule)
_HINT = "the checkpoint is incomplete or not what its config.json says; re-download it"


class SourceTensors:
    """The source's tensors by name, as a format's `dequant_module` sees them: companions looked up in any
    shard, small ones read whole, and errors that name a tensor and its shard. `close` the files it opened."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self.parts: dict[str, tuple[ShardHeader, TensorInfo]] = {t.name: (s, t) for s, t in ckpt.tensors()}
        self._fds: dict[str, int] = {}

    def __contains__(self, name: str) -> bool:
        return name in self.parts

    def bad(self, name: str, message: str, rule: str = _RULE, hint: str = _HINT) -> UserError:
        return user_error(f"{self.parts[name][0].path}: {name}", message, rule=rule, hint=hint)

    def companion(self, main: TensorInfo, role: str, name: str, dtypes: tuple[str, ...],
                  shape: tuple[int, ...] | None) -> SourcePart:
        """Tensor `name`, the `role` of `main`'s module, with one of `dtypes` and `shape` (None: any)."""
        part = self.parts.get(name)
        if part is None:
            raise self.bad(main.name, f"has no {role}: {name} is in no shard")
        t = part[1]
        if t.dtype not in dtypes or (shape is not None and t.shape != shape):
            want = "/".join(dtypes) + ("" if shape is None else f" {list(shape)}")
            raise self.bad(name, f"is {t.dtype} {list(t.shape)}, expected {want} for {main.name} "
                                 f"{main.dtype} {list(main.shape)}")
        return SourcePart(role, part[0], t)

    def read(self, p: SourcePart) -> bytes:
        """All of a (small) companion's bytes."""
        path = str(p.shard.path)
        if path not in self._fds:
            self._fds[path] = os.open(path, os.O_RDONLY)
        return os.pread(self._fds[path], p.info.nbytes, p.shard.data_start + p.info.begin)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


@dataclass(frozen=True)
class _Module:
    shard: ShardHeader  # its main tensor's
    main: TensorInfo
    found: DequantModule

    @property
    def out_name(self) -> str:
        return BF16.module_parts(self.found.base)["weight"]


def _modules(source: SourceTensors, fmt: QuantParams) -> list[_Module]:
    """Each quantized module of the source, as its format finds and checks it."""
    out = []
    for shard, t in source.parts.values():
        found = fmt.format.dequant_module(source, t, fmt)
        if found is not None:
            out.append(_Module(shard, t, found))
    return out


def plan_dequantization(ckpt: Checkpoint, fmt: QuantParams) -> ConversionPlan:
    """The layout of the BF16 checkpoint dequantized from `ckpt`, whose format is `fmt`."""
    source = SourceTensors(ckpt)
    try:
        modules = _modules(source, fmt)
    finally:
        source.close()
    if not modules:
        raise user_error(
            str(ckpt.root), f"holds no {fmt.mode} quantized weight although config.json has a quantization_config",
            rule=_RULE, hint="remove the quantization_config if the checkpoint is BF16, or re-download it",
        )
    consumed = {m.main.name for m in modules} | {p.info.name for m in modules for p in m.found.parts}
    for name, (_, t) in source.parts.items():
        if name not in consumed and (name.endswith(QUANT_TENSOR_SUFFIXES) or t.dtype.startswith(QUANT_TENSOR_DTYPES)):
            raise source.bad(name, f"is a quantization tensor ({t.dtype}) that belongs to no {fmt.mode} weight",
                             hint="its weight is missing or of another format; re-download the checkpoint")
    by_shard: dict[str, list[_Module]] = {}
    for m in modules:
        by_shard.setdefault(m.shard.path.name, []).append(m)
    shards = []
    for shard in ckpt.shards:
        mods = by_shard.get(shard.path.name, [])
        copies = [t for t in shard.tensors.values() if t.name not in consumed]
        if not mods and not copies:
            continue
        placed = {o.name: o for o in layout_tensors(
            [(t.name, t.dtype, t.shape) for t in copies] + [(m.out_name, "BF16", m.found.shape) for m in mods])}
        jobs = [TensorJob("copy", shard, t, (placed[t.name],)) for t in copies]
        jobs += [TensorJob(f"{fmt.mode}-bf16", m.shard, m.main, (placed[m.out_name],), m.found.parts) for m in mods]
        tensors_out = tuple(placed.values())
        shards.append(ShardPlan(shard.path.name, encode_header(list(tensors_out), {"format": "pt"}), tensors_out,
                                tuple(jobs)))
    return ConversionPlan(Bf16Params(), tuple(shards), tuple(sorted(m.main.name for m in modules)),
                  tuple(sorted(j.src.name for s in shards for j in s.jobs if j.kind == "copy")), fmt)
