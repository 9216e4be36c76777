"""Which precision modes a model can run on a cluster at all: one predicate per reason.

The rules that refuse a mode and the hints that suggest another ask the same predicates, so a hint
never suggests a mode that is itself refused.
"""

from __future__ import annotations

from recipe_runner import formats
from recipe_runner.checks.linears import hf_weights
from recipe_runner.formats import nothing_quantized, quantized_by_default
from recipe_runner.formats.fp8_block import FP8_BLOCK
from recipe_runner.hardware import GPUS, MIN_COMPUTE_CAPABILITY
from recipe_runner.models import ModelShape
from recipe_runner.precision import MODES, PrecisionMode
from recipe_runner.spec import Recipe


def gpu_refusals(m: PrecisionMode, r: Recipe) -> list[str]:
    """One message per part of the mode (training, rollout) the recipe's GPU cannot run."""
    gpu = GPUS[r.cluster.gpu]
    out = []
    for feature, what in ((m.train_feature, "training"), (m.rollout_feature, "rollout")):
        need = MIN_COMPUTE_CAPABILITY.get(feature or "")
        if need and gpu.compute_capability < need:
            out.append(f"{m.name} {what} ({feature}) needs compute capability {need}+, "
                       f"{gpu.name} has {gpu.compute_capability}")
    return out


def conversion_refusal(m: PrecisionMode, r: Recipe, s: ModelShape) -> str | None:
    """The converter's own words when the plan's convert step would quantize no weight of this model."""
    if m.conversion is None or r.checkpoints.rollout:
        return None  # nothing is converted: an explicit rollout checkpoint is checked by the checkpoint rules
    if any(quantized_by_default(m.conversion, name, shape) for name, shape in hf_weights(s)):
        return None
    message, rule = nothing_quantized(m.conversion)
    dense = "" if s.is_moe else f", and {r.model.name} is dense: it has no routed experts"
    return f"the convert step would fail: {message}: {rule}{dense}"


def qat_has_targets(s: ModelShape) -> bool:
    """slime's INT4 fake quant acts on MoE routed experts (TEGroupedLinear) only."""
    return s.is_moe


def qat_refusal(m: PrecisionMode, r: Recipe, s: ModelShape) -> str | None:
    if m.qat and not qat_has_targets(s):
        return (f"{m.name} on the dense model {r.model.name}: the fake quant acts on MoE routed experts "
                "(TEGroupedLinear) only, so nothing would be trained quantization-aware")
    return None


def fp8_experts_fit(s: ModelShape) -> bool:
    """Even whole experts (SGLang EP) must fit the FP8 block: SGLang FP8 MoE needs moe_intermediate % 128 == 0."""
    return not s.is_moe or s.moe_ffn % FP8_BLOCK[0] == 0


def fp8_moe_refusal(m: PrecisionMode, r: Recipe, s: ModelShape) -> str | None:
    block = FP8_BLOCK[0]
    if formats.get(m.rollout_format) is formats.FP8 and not fp8_experts_fit(s):
        return (f"{r.model.name} has moe_intermediate_size {s.moe_ffn}, not a multiple of the FP8 block "
                f"{block}: no engine layout can load its experts in block FP8")
    return None


def refused(m: PrecisionMode, r: Recipe, s: ModelShape) -> bool:
    return bool(gpu_refusals(m, r) or conversion_refusal(m, r, s) or qat_refusal(m, r, s)
                or fp8_moe_refusal(m, r, s))


def other_modes(r: Recipe, s: ModelShape) -> str:
    """A fix naming the precision modes this model and cluster accept, other than the recipe's."""
    ok = [name for name, m in MODES.items() if name != r.precision.mode and not refused(m, r, s)]
    if not ok:
        return "no other precision mode fits this model on this cluster; change cluster.gpu or the model"
    return "use precision=" + ok[0] + (f" (or {', '.join(ok[1:])})" if ok[1:] else "")
