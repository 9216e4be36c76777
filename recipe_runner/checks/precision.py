"""Precision rules: hardware support, flag combinations and model kind, driven by the mode table."""

from __future__ import annotations

from collections.abc import Iterator

from recipe_runner.checks.finding import Finding, error
from recipe_runner.hardware import GPUS, MIN_COMPUTE_CAPABILITY
from recipe_runner.models import ModelShape
from recipe_runner.precision import mode
from recipe_runner.spec import Recipe


def gpu_supports_mode(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    m, gpu = mode(r.precision.mode), GPUS[r.cluster.gpu]
    for feature, what in ((m.train_feature, "training"), (m.rollout_feature, "rollout")):
        need = MIN_COMPUTE_CAPABILITY.get(feature or "")
        if need and gpu.compute_capability < need:
            capable = ", ".join(g.name for g in GPUS.values() if g.compute_capability >= need)
            yield error("precision.gpu", "cluster.gpu",
                        f"{m.name} {what} ({feature}) needs compute capability {need}+, "
                        f"{gpu.name} has {gpu.compute_capability}",
                        hint=f"use cluster.gpu= one of {capable}, or another precision mode")


def fp8_param_gather(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    if not r.precision.fp8_param_gather:
        return
    if not mode(r.precision.mode).train_args:
        yield error("precision.fp8-param-gather-mode", "precision.fp8_param_gather",
                    f"--fp8-param-gather needs FP8 training; mode is {r.precision.mode}",
                    hint="use precision=fp8-full or set precision.fp8_param_gather=false",
                    source="NVIDIA/Megatron-LM@1dcf0daf:megatron/core/transformer/transformer_config.py:1053-1054")
    if r.optimizer.cpu_offload:
        yield error("precision.fp8-param-gather-offload", "precision.fp8_param_gather",
                    "--fp8-param-gather with CPU optimizer offload needs the delayed FP8 recipe, "
                    "not blockwise", hint="set precision.fp8_param_gather=false or optimizer.cpu_offload=false",
                    source="NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:1194-1197")


def qat_has_targets(s: ModelShape) -> bool:
    """slime's INT4 fake quant acts on MoE routed experts (TEGroupedLinear) only."""
    return s.is_moe


def qat_needs_moe(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    if mode(r.precision.mode).qat and not qat_has_targets(s):
        yield error("precision.qat-dense", "precision.mode",
                    f"int4-qat on the dense model {r.model.name}: the fake quant acts on MoE routed experts "
                    "(TEGroupedLinear) only, so nothing would be trained quantization-aware",
                    hint="use precision=int4-rollout, or an MoE model",
                    source="THUDM/slime@624b824a:docker/patch/latest/megatron.patch:271-284")


def cpu_offload_needs_precision_aware(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    if r.optimizer.cpu_offload and r.optimizer.precision_aware is False:
        yield error("optimizer.precision-aware", "optimizer.precision_aware",
                    "CPU optimizer offload requires the precision-aware optimizer",
                    hint="unset optimizer.precision_aware (it defaults to on with offload)",
                    source="NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:1189-1193")


RULES = (gpu_supports_mode, fp8_param_gather, qat_needs_moe, cpu_offload_needs_precision_aware)
