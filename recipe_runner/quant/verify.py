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
from pathlib import Path

from . import refcheck
from .deps import require_installed
from .device import usable_cores
from .source import open_checkpoint
from .verify_bf16 import is_dequantized_output, verify_dequantized
from .verify_plan import plan_modules, read_mode
from .verify_report import TensorCheck, VerifyReport, check_index, check_with_safetensors
from .verify_stream import check_all


def verify_checkpoint(
    dst: Path | str, source: Path | str | None = None, workers: int | None = None, full_reference: bool = False
) -> VerifyReport:
    """Check DST's format and, with SOURCE, its error; problems are returned, not raised.
    `full_reference`: the consumer's dequantization of every element, not each tensor's first and last row block."""
    dst_ckpt = open_checkpoint(Path(dst))
    src_ckpt = open_checkpoint(Path(source)) if source is not None else None
    if is_dequantized_output(dst_ckpt, src_ckpt):  # a `convert bf16` output: its own checks (verify_bf16.py)
        return verify_dequantized(dst_ckpt, src_ckpt, workers)
    qc = read_mode(dst_ckpt)
    mode = qc.params.mode  # type: ignore[union-attr]
    require_installed("torch")  # the reference check's; not imported here
    ref = refcheck.start(dst_ckpt.root, mode, full_reference)  # imports while we stream
    try:
        plan = plan_modules(dst_ckpt, src_ckpt, qc)
        check_index(dst_ckpt, plan.problems)
        check_with_safetensors(dst_ckpt, plan.problems)
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
