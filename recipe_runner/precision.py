"""THE table of precision modes. Nothing else in the package branches on a mode's name.

Facts from THUDM/slime@624b824a (reference: slime-low-precision.md §0, §3.6, §4):
- slime picks the rollout quantizer from `quantization_config` in `--hf-checkpoint/config.json`
  (slime/backends/megatron_utils/actor.py:181); there is no CLI flag for rollout precision.
- FP8 training is Megatron's `--fp8-format e4m3 --fp8-recipe blockwise` plus TE's
  `NVTE_FP8_BLOCK_SCALING_FP32_SCALES=1` (scripts/low_precision/run-qwen3-30b-a3b-fp8.sh).
- INT4 QAT is switched by env vars read by slime's Megatron patch
  (docker/patch/latest/megatron.patch:271-284): `OPEN_TRAINING_INT4_FAKE_QAT_FLAG=1`,
  `OPEN_TRAINING_INT4_GROUP_SIZE=G`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from recipe_runner.steps import Arg

if TYPE_CHECKING:
    from recipe_runner.spec import Recipe  # spec validates precision.mode against MODES


@dataclass(frozen=True)
class PrecisionMode:
    name: str
    summary: str
    rollout_format: str  # what --hf-checkpoint must hold: "bf16" | "fp8-block" | "int4-pack"
    conversion: str | None  # the converter's mode: "fp8" | "int4" | None
    conversion_params: dict[str, object] = field(default_factory=dict)  # fixed converter parameters (block_size)
    train_args: tuple[Arg, ...] = ()  # train.py flags the mode adds (perf group)
    env: dict[str, str] = field(default_factory=dict)  # values may use {group_size}
    converted_suffix: str = ""  # suffix of the derived converted-checkpoint directory
    rollout_feature: str | None = None  # hardware.MIN_COMPUTE_CAPABILITY key for rollout GPUs
    train_feature: str | None = None  # hardware.MIN_COMPUTE_CAPABILITY key for training GPUs
    uses_group_size: bool = False  # the recipe's precision.group_size is a parameter of this mode (INT4)
    qat: bool = False  # training fake-quantizes (routed experts only)


FP8_TRAIN_ARGS = (Arg("--transformer-impl", ("transformer_engine",)), Arg("--bf16"),
                  Arg("--fp8-format", ("e4m3",)), Arg("--fp8-recipe", ("blockwise",)))
FP8_BLOCK = (128, 128)
FP8_CONVERSION = {"block_size": list(FP8_BLOCK)}
# INT4 conversions take the recipe's group size (uses_group_size), symmetric only: slime's converter defaults to
# asymmetric group 32, which the QAT path does not use (THUDM/slime@624b824a:tools/convert_hf_to_int4_direct.py;
# reference §6.2).

MODES: dict[str, PrecisionMode] = {
    m.name: m
    for m in (
        PrecisionMode("bf16", "BF16 training + BF16 rollout (baseline)", "bf16", None),
        PrecisionMode(
            "fp8-rollout", "BF16 training + FP8 block-128 rollout", "fp8-block", "fp8",
            conversion_params=FP8_CONVERSION, converted_suffix="-FP8", rollout_feature="fp8-rollout",
        ),
        PrecisionMode(
            "fp8-full", "FP8 blockwise training + FP8 block-128 rollout", "fp8-block", "fp8",
            conversion_params=FP8_CONVERSION, train_args=FP8_TRAIN_ARGS,
            env={"NVTE_FP8_BLOCK_SCALING_FP32_SCALES": "1"},
            converted_suffix="-FP8", rollout_feature="fp8-rollout", train_feature="fp8-block-training",
        ),
        PrecisionMode(
            "int4-qat", "INT4 fake-quant QAT (routed experts) + INT4 W4A16 rollout", "int4-pack", "int4",
            env={"OPEN_TRAINING_INT4_FAKE_QAT_FLAG": "1", "OPEN_TRAINING_INT4_GROUP_SIZE": "{group_size}"},
            converted_suffix="-INT4-g{group_size}", rollout_feature="int4-rollout",
            train_feature="int4-qat-kernel", uses_group_size=True, qat=True,
        ),
        PrecisionMode(
            "int4-rollout", "BF16 training + INT4 W4A16 rollout", "int4-pack", "int4",
            converted_suffix="-INT4-g{group_size}",
            rollout_feature="int4-rollout", uses_group_size=True,
        ),
    )
}


def mode(name: str) -> PrecisionMode:
    return MODES[name]


def job_env(m: PrecisionMode, group_size: int) -> dict[str, str]:
    """The mode's runtime env vars with the recipe's group size filled in."""
    return {k: v.format(group_size=group_size) for k, v in m.env.items()}


def effective_group_size(m: PrecisionMode, group_size: int) -> int | None:
    """The recipe's INT4 group size where the mode uses one (INT4 modes), else None: precision.group_size is
    ignored by the other modes."""
    return group_size if m.uses_group_size else None


def recipe_group_size(r: Recipe) -> int | None:
    """The recipe's INT4 group size, or None for a mode without one (what tags and the catalogue show)."""
    return effective_group_size(mode(r.precision.mode), r.precision.group_size)


def conversion_params(m: PrecisionMode, group_size: int) -> dict[str, object]:
    """The converter's parameters for this mode (quant.params.params_from_json input): the mode's fixed ones
    and the recipe's group size where the mode uses it."""
    g = effective_group_size(m, group_size)
    return {**m.conversion_params, **({"group_size": g} if g is not None else {})}


def converted_dir_name(m: PrecisionMode, source_name: str, group_size: int) -> str:
    return source_name + m.converted_suffix.format(group_size=group_size)
