"""Shape rules: every tensor-parallel shard of a quantized linear must fit the format's block or group.

SGLang (and vLLM) reject block-FP8 shards whose size is not a multiple of 128, and Marlin W4A16 needs
in-features per shard divisible by the group size (reference pain-points §1.1, checkpoint-formats §1.4).
"""

from __future__ import annotations

from collections.abc import Iterator

from recipe_runner import formats
from recipe_runner.checks.finding import Finding, error
from recipe_runner.checks.linears import Linear, rollout_shards
from recipe_runner.checks.modes import fp8_experts_fit, fp8_moe_refusal, other_modes
from recipe_runner.checks.registry import rule
from recipe_runner.formats.fp8_block import FP8_BLOCK
from recipe_runner.models import ModelShape
from recipe_runner.precision import mode
from recipe_runner.spec import Recipe


@rule("shapes.fp8-block", "error", source="pain-points §1.1 (vllm-project/vllm#17569, THUDM/slime#1796)")
def fp8_block_shards(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    m = mode(r.precision.mode)
    if formats.get(m.rollout_format) is not formats.FP8:
        return
    tp = r.rollout.gpus_per_engine
    block = FP8_BLOCK[0]
    # Experts no layout can fit are shapes.fp8-moe-intermediate's finding, whose fix is another mode, not fewer GPUs.
    bad = [lin for lin in fp8_block_misfits(s, tp, _expert_parallel(r)) if fp8_experts_fit(s) or not lin.routed_expert]
    if bad:
        lin = bad[0]
        yield error("shapes.fp8-block", "rollout.gpus_per_engine",
                    f"at engine TP={tp}, {lin.name} shard is [{lin.out_features}, {lin.in_features}]: not a "
                    f"multiple of the FP8 block {block} ({len(bad)} such layer(s))",
                    hint=_fix(s, tp, lin))


@rule("shapes.int4-group", "error", source="checkpoint-formats §1.4 (Marlin: K_part % G == 0)")
@rule("shapes.int4-group-train", "error",
      source="THUDM/slime@624b824a:docker/patch/latest/megatron.patch (fake quant per ETP shard)")
def int4_group_shards(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    m = mode(r.precision.mode)
    if formats.get(m.rollout_format) is not formats.INT4:
        return
    g, tp = r.precision.group_size, r.rollout.gpus_per_engine
    bad = int4_group_misfits(s, tp, _expert_parallel(r), g)
    if bad:
        lin = bad[0]
        yield error("shapes.int4-group", "precision.group_size",
                    f"at engine TP={tp}, {lin.name} has {lin.in_features} in-features per shard, not divisible "
                    f"by group size {g}", hint=_fix(s, tp, lin, g))
    etp = r.parallel.expert_tensor
    if m.qat and not qat_groups_fit(s, etp, g):
        yield error("shapes.int4-group-train", "parallel.expert_tensor",
                    f"QAT fake-quant groups of {g} do not divide the expert shard {s.moe_ffn}//ETP{etp}",
                    hint="use parallel.expert_tensor=1")


@rule("shapes.fp8-moe-intermediate", "error", source="pain-points §1.1 (sgl-project/sglang#10852)")
def fp8_moe_intermediate(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """Even whole experts (SGLang EP) must fit the block: SGLang FP8 MoE needs moe_intermediate % 128 == 0."""
    message = fp8_moe_refusal(mode(r.precision.mode), r, s)
    if message:
        yield error("shapes.fp8-moe-intermediate", "precision.mode", message, hint=other_modes(r, s))


def fp8_block_misfits(s: ModelShape, tp: int, expert_parallel: bool) -> list[Linear]:
    """Shards at engine TP `tp` that block FP8 cannot tile (out-features, and in-features of row-parallel ones)."""
    block = FP8_BLOCK[0]
    return [lin for lin in rollout_shards(s, tp, expert_parallel)
            if lin.out_features % block or (lin.in_features % block and lin.name.endswith(("down_proj", "o_proj")))]


def int4_group_misfits(s: ModelShape, tp: int, expert_parallel: bool, group: int) -> list[Linear]:
    """Routed-expert shards (the only INT4 weights) whose in-features the group size does not divide."""
    return [lin for lin in rollout_shards(s, tp, expert_parallel) if lin.routed_expert and lin.in_features % group]


def qat_groups_fit(s: ModelShape, expert_tensor: int, group: int) -> bool:
    """QAT fake-quantizes the training shard of each routed expert in groups along its input dim."""
    return not s.is_moe or (s.moe_ffn // expert_tensor) % group == 0


def _expert_parallel(r: Recipe) -> bool:
    return bool(r.rollout.sglang.expert_parallel_size and r.rollout.sglang.expert_parallel_size > 1)


def _fix(s: ModelShape, tp: int, lin: Linear, group: int = 0) -> str:
    hint = "use fewer GPUs per engine (rollout.gpus_per_engine)"
    if lin.routed_expert:
        hint = f"set rollout.sglang.expert_parallel_size={tp} so experts are not split, or " + hint
    if group:
        hint += ", or a smaller precision.group_size"
    return hint
