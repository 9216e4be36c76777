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

from . import refcheck
from .deps import require_installed
from .device import usable_cores
from .source import INDEX_NAME, Checkpoint, open_checkpoint
from .verify_plan import plan_modules, read_mode
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
