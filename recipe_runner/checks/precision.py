"""Precision rules: hardware support, flag combinations and model kind, driven by the mode table."""

from __future__ import annotations

from collections.abc import Iterator

from recipe_runner.checks.finding import Finding, error
from recipe_runner.checks.modes import conversion_refusal, gpu_refusals, other_modes, qat_refusal
from recipe_runner.checks.registry import rule
from recipe_runner.hardware import GPUS, MIN_COMPUTE_CAPABILITY
from recipe_runner.models import ModelShape
from recipe_runner.precision import mode
from recipe_runner.spec import Recipe


@rule("precision.gpu", "error", source="hardware.REQUIREMENTS (TE fp8_blockwise_scaling docs; NVIDIA-NeMo/RL#971; "
      "Megatron arguments.py:851-853)")
def gpu_supports_mode(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    m, gpu = mode(r.precision.mode), GPUS[r.cluster.gpu]
    for message in gpu_refusals(m, r):
        need = max(MIN_COMPUTE_CAPABILITY.get(f or "", 0) for f in (m.train_feature, m.rollout_feature))
        capable = ", ".join(g.name for g in GPUS.values() if g.compute_capability >= need)
        yield error("precision.gpu", "cluster.gpu", message,
                    hint=f"use cluster.gpu= one of {capable}, or on {gpu.name}: {other_modes(r, s)}")


@rule("precision.fp8-param-gather-mode", "error",
      source="NVIDIA/Megatron-LM@1dcf0daf:megatron/core/transformer/transformer_config.py:1053-1054")
@rule("precision.fp8-param-gather-offload", "error",
      source="NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:1194-1197")
def fp8_param_gather(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    if not r.precision.fp8_param_gather:
        return
    if not mode(r.precision.mode).train_args:
        yield error("precision.fp8-param-gather-mode", "precision.fp8_param_gather",
                    f"--fp8-param-gather needs FP8 training; mode is {r.precision.mode}",
                    hint="use precision=fp8-full or set precision.fp8_param_gather=false")
    if r.optimizer.cpu_offload:
        yield error("precision.fp8-param-gather-offload", "precision.fp8_param_gather",
                    "--fp8-param-gather with CPU optimizer offload needs the delayed FP8 recipe, "
                    "not blockwise", hint="set precision.fp8_param_gather=false or optimizer.cpu_offload=false")


@rule("precision.qat-dense", "error", source="THUDM/slime@624b824a:docker/patch/latest/megatron.patch:271-284")
def qat_needs_moe(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    message = qat_refusal(mode(r.precision.mode), r, s)
    if message:
        yield error("precision.qat-dense", "precision.mode", message, hint=f"{other_modes(r, s)}, or an MoE model")


@rule("precision.conversion-empty", "error",
      source="the converter's rules (formats/): THUDM/slime@624b824a:tools/convert_hf_to_int4_direct.py:285-307, "
      "tools/convert_hf_to_fp8.py:133-149")
def conversion_quantizes(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """Refuse a mode whose convert step the converter would refuse (same rule, same words)."""
    message = conversion_refusal(mode(r.precision.mode), r, s)
    if message:
        yield error("precision.conversion-empty", "precision.mode", message, hint=other_modes(r, s))


@rule("optimizer.precision-aware", "error",
      source="NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:1189-1193")
def cpu_offload_needs_precision_aware(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    if r.optimizer.cpu_offload and r.optimizer.precision_aware is False:
        yield error("optimizer.precision-aware", "optimizer.precision_aware",
                    "CPU optimizer offload requires the precision-aware optimizer",
                    hint="unset optimizer.precision_aware (it defaults to on with offload)")
