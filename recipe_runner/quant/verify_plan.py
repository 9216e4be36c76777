"""What `verify` checks, from the headers alone: the modules, their parts, and the problems the headers show.

Shared by verify.py (its own checks) and refcheck.py (the consumer's, in its own process), which plans
the same way without reading the data twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from recipe_runner.errors import user_error
from recipe_runner.formats import Fp8Params, Int4Params, QuantConfig, read_quantization_config
from recipe_runner.formats.int4_pack import int4_quantizes

from .header import ShardHeader, TensorInfo
from .source import Checkpoint


@dataclass
class _Work:
    """One module to check: its output tensors by role, and its source weight when there is one."""

    name: str
    kind: str  # fp8 | int4 | copy
    parts: dict[str, tuple[ShardHeader, TensorInfo]]
    source: tuple[ShardHeader, TensorInfo] | None
    problems: list[str] = field(default_factory=list)
    err_sq: float = 0.0
    ref_sq: float = 0.0
    max_abs: float = 0.0


def read_mode(ckpt: Checkpoint) -> QuantConfig:
    qc = read_quantization_config(ckpt.config, str(ckpt.root / "config.json"))
    if qc is not None and qc.params is not None:
        return qc
    raise user_error(
        str(ckpt.root / "config.json"),
        "has no block-FP8 or symmetric INT4 pack-quantized quantization_config",
        hint="verify a directory written by `recipe-runner convert`",
    )


class _Plan:
    """What to check, from headers alone: the modules, and problems found without reading data."""

    def __init__(self, dst: Checkpoint, source: Checkpoint | None) -> None:
        self.where = {t.name: (s, t) for s, t in dst.tensors()}
        self.src = {t.name: (s, t) for s, t in source.tensors()} if source else None
        self.work: list[_Work] = []
        self.problems: list[str] = []

    def shape_is(self, name: str, dtype: str | tuple[str, ...], shape: tuple[int, ...]) -> bool:
        part = self.where.get(name)
        dtypes = (dtype,) if isinstance(dtype, str) else dtype
        if part is None:
            self.problems.append(f"{name}: missing")
            return False
        t = part[1]
        if t.dtype not in dtypes or t.shape != shape:
            self.problems.append(f"{name}: {t.dtype} {list(t.shape)}, expected {'/'.join(dtypes)} {list(shape)}")
            return False
        return True

    def add(self, name: str, kind: str, parts: dict[str, str], shape: tuple[int, ...]) -> None:
        """`shape`: the module's weight shape here (dequantized), which the source's must equal."""
        source = None
        if self.src is not None:
            source = self.src.get(name)
            if source is None:
                self.problems.append(f"{name}: not in the source checkpoint")
            elif source[1].shape != shape:
                self.problems.append(f"{name}: {list(shape)} here, {list(source[1].shape)} in the source")
                source = None
        if kind == "copy" and source is None:
            return
        self.work.append(_Work(name, kind, {role: self.where[n] for role, n in parts.items()}, source))


def _plan_fp8(p: _Plan, qc: QuantConfig) -> None:
    assert isinstance(qc.params, Fp8Params)
    block = qc.params.block_size
    skipped = set(qc.not_converted)
    for name, (_, t) in sorted(p.where.items()):
        if name.endswith(".weight_scale_inv"):
            continue
        base = name[: -len(".weight")] if name.endswith(".weight") else name
        if t.dtype == "F8_E4M3":
            scale = f"{base}.weight_scale_inv"
            if len(t.shape) == 2 and p.shape_is(scale, "F32", (-(-t.shape[0] // block[0]), -(-t.shape[1] // block[1]))):
                p.add(name, "fp8", {"weight": name, "weight_scale_inv": scale}, t.shape)
        else:
            if name.endswith(".weight") and len(t.shape) == 2 and base not in skipped:
                p.problems.append(f"{name}: kept in {t.dtype} but not listed in modules_to_not_convert")
            p.add(name, "copy", {"weight": name}, t.shape)


def _plan_int4(p: _Plan, qc: QuantConfig) -> None:
    assert isinstance(qc.params, Int4Params)
    group, ignore = qc.params.group_size, qc.params.ignore
    for name, (_, t) in sorted(p.where.items()):
        if name.endswith((".weight_scale", ".weight_shape")):
            continue
        if not name.endswith(".weight_packed"):
            if int4_quantizes(name, t.shape, ignore):
                p.problems.append(f"{name}: kept in {t.dtype} but not matched by the ignore rules")
            p.add(name, "copy", {"weight": name}, t.shape)
            continue
        base = name[: -len(".weight_packed")]
        if len(t.shape) != 2:
            p.problems.append(f"{name}: {list(t.shape)}, expected a 2-D [N, K/8] int32 tensor")
            continue
        n, k = t.shape[0], t.shape[1] * 8
        if (
            p.shape_is(name, "I32", (n, k // 8))
            and p.shape_is(f"{base}.weight_scale", ("BF16", "F16", "F32"), (n, k // group))
            and p.shape_is(f"{base}.weight_shape", ("I64", "I32"), (2,))
        ):
            parts = {r: f"{base}.{r}" for r in ("weight_packed", "weight_scale", "weight_shape")}
            p.add(f"{base}.weight", "int4", parts, (n, k))


def plan_modules(dst: Checkpoint, source: Checkpoint | None, qc: QuantConfig) -> _Plan:
    """The modules to check and the problems the headers show (refcheck plans with this too)."""
    plan = _Plan(dst, source)
    (_plan_fp8 if isinstance(qc.params, Fp8Params) else _plan_int4)(plan, qc)
    return plan
