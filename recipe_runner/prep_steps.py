"""The checkpoint preparation steps, from the source checkpoint's format: dequant-bf16, torch-dist, convert.

Order (slime's workflow, THUDM/slime@624b824a:docs/en/get_started/quick_start.md:70-93, tools/): an FP8 or INT4
release is dequantized to BF16 first (tools/fp8_cast_bf16.py, tools/convert_k2_thinking_int4_to_bf16.py; ours:
`recipe-runner convert bf16`), the BF16 checkpoint becomes Megatron's torch_dist (tools/convert_hf_to_torch_dist.py)
and the rollout checkpoint (`recipe-runner convert fp8|int4`). Each step skips itself when its output holds it.
"""

from __future__ import annotations

from recipe_runner import torch_dist
from recipe_runner.ckpt_paths import CheckpointPaths
from recipe_runner.plan import Step
from recipe_runner.precision import conversion_args, mode
from recipe_runner.resolve import Resolved

DEQUANT = "dequant-bf16"
TORCH_DIST = "torch-dist"
CONVERT = "convert"


def prep_steps(resolved: Resolved, paths: CheckpointPaths) -> list[Step]:
    r = resolved.recipe
    steps = []
    if paths.dequantize:
        steps.append(Step(DEQUANT, ["recipe-runner", "convert", "bf16", paths.hf, paths.bf16],
                          description=f"dequantize the {paths.source.format} release to BF16 (skipped when DST "
                          "already holds this conversion)"))
    steps.append(Step(TORCH_DIST, torch_dist.step_argv(torch_dist.spec(resolved, paths)),
                      description=torch_dist.description(resolved)))
    m = mode(r.precision.mode)
    if paths.rollout_converted:
        steps.append(Step(CONVERT, ["recipe-runner", "convert", m.conversion, paths.bf16, paths.rollout,
                                    *conversion_args(m, r.precision.group_size)],
                          description=f"convert the BF16 checkpoint to the {m.rollout_format} rollout checkpoint "
                          "(skipped when DST already holds this conversion)"))
    return steps
