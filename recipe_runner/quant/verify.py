"""`verify_checkpoint`: re-read a converted checkpoint, check its format and measure its error, streaming.

Checks: every shard opens with safetensors itself and agrees with our header reader; the index agrees
with the shards (names and byte `total_size`); config.json carries a quantization_config we can read;
every quantized module has the right tensors, dtypes and shapes; every unquantized 2-D weight is covered
by the config's keep/ignore list (else SGLang would try to load it as quantized); INT4 codes lie in
[-7, 7]; our dequantization is finite, equals the consumer's own (refcheck.py) and, given the source,
is reported as relative error while copied tensors must be byte-identical.

Two processes from the start: the consumer's code (compressed-tensors, transformers: seconds of imports)
checks the output in refcheck's child while this one streams the per-element checks in numpy
(verify_stream.py: no torch), like the converter, a slab per worker whatever the checkpoint size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from recipe_runner.errors import user_error

from . import refcheck
from .deps import require_installed
from .device import usable_cores
from .header import ShardHeader, TensorInfo
from .params import Fp8Params, Int4Params
from .qconfig import QuantConfig, read_quantization_config
from .rules import int4_quantizes
from .source import INDEX_NAME, Checkpoint, open_checkpoint
from .verify_stream import check_all


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


def _check_index(ckpt: Checkpoint, problems: list[str]) -> None:
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


def _check_with_safetensors(ckpt: Checkpoint, problems: list[str]) -> None:
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


def verify_checkpoint(
    dst: Path | str, source: Path | str | None = None, workers: int | None = None, full_reference: bool = False
) -> VerifyReport:
    """Check DST's format and, with SOURCE, its error; problems are returned, not raised.
    `full_reference`: the consumer's dequantization of every element, not each tensor's first and last row block."""
    dst_ckpt = open_checkpoint(Path(dst))
    src_ckpt = open_checkpoint(Path(source)) if source is not None else None
    qc = read_mode(dst_ckpt)
    mode = qc.params.mode  # type: ignore[union-attr]
    require_installed("torch")  # the reference check's; not imported here
    ref = refcheck.start(dst_ckpt.root, mode, full_reference)  # imports while we stream
    try:
        plan = plan_modules(dst_ckpt, src_ckpt, qc)
        _check_index(dst_ckpt, plan.problems)
        _check_with_safetensors(dst_ckpt, plan.problems)
        child = isinstance(ref, refcheck.ReferenceRun)  # its imports keep a core busy for seconds: leave it one
        check_all(plan.work, qc.params, workers or max(1, usable_cores() - child))  # type: ignore[arg-type]
        ref_result = ref.result() if ref is not None else None
    finally:
        if ref is not None:
            ref.stop()
    work = sorted(plan.work, key=lambda w: w.name)
    problems = plan.problems + [p for w in work for p in w.problems]
    if ref_result is not None:
        problems += ref_result.problems
    checks = [
        TensorCheck(
            w.name, w.kind,
            math.sqrt(w.err_sq) / max(math.sqrt(w.ref_sq), 1e-30) if w.source and w.kind != "copy" else None,
            w.max_abs if w.source and w.kind != "copy" else None,
        )
        for w in work
    ]  # fmt: skip
    if not any(w.kind != "copy" for w in work):
        problems.append("no quantized tensor found")
    err_sq, ref_sq = sum(w.err_sq for w in work), sum(w.ref_sq for w in work)
    overall = math.sqrt(err_sq / ref_sq) if src_ckpt is not None and ref_sq > 0 else None
    name = ref_result.reference if ref_result is not None else None
    missing = "none installed (compressed-tensors / transformers)" if ref is None else "none ran (see problems)"
    return VerifyReport(Path(dst), mode, name or f"{missing}; ours only",
                        tuple(checks), tuple(problems), overall,
                        ref_result.elements if ref_result else 0, ref_result.seconds if ref_result else {})
