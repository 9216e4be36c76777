"""Companion settings: options that are legal alone but known to fail or degrade together (pain-points),
and what each precision mode needs of the GPU and the image (hardware.REQUIREMENTS).
"""

from __future__ import annotations

from collections.abc import Iterator

from recipe_runner import formats
from recipe_runner.checks.checkpoint import int4_checkpoint, int4_weights
from recipe_runner.checks.finding import Finding, error, note, warning
from recipe_runner.checks.registry import rule
from recipe_runner.estimate import params
from recipe_runner.hardware import GPUS, REQUIREMENTS
from recipe_runner.models import ModelShape
from recipe_runner.precision import job_env, mode
from recipe_runner.spec import Recipe

SMALL_DENSE_PARAMS = 8.5e9  # "dense <= 8B": Qwen3-8B has 8.2B parameters
COLOCATE_MEM_FRACTION = 0.8  # slime's colocated scripts use 0.7; SGLang's own default on big GPUs is ~0.9
SLIME_ARGS = "THUDM/slime@624b824a:slime/utils/arguments.py"


@rule("companion.fp8-small-dense", "warning",
      source="THUDM/slime#952; volcengine/verl#4415; radixark/miles#1678")
def fp8_small_dense_without_tis(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    if formats.get(mode(r.precision.mode).rollout_format) is not formats.FP8 or s.is_moe or r.algorithm.use_tis:
        return
    n = params(s).total
    if n <= SMALL_DENSE_PARAMS:
        yield warning("companion.fp8-small-dense", "algorithm.use_tis",
                      f"FP8 rollout on a dense {n / 1e9:.1f}B model without TIS: upstream moved its FP8 example "
                      "off Qwen3-4B because rewards degraded", hint="set algorithm.use_tis=true, or roll out in BF16")


@rule("companion.colocate-mem-fraction", "warning", source="slime FAQ Q11; volcengine/verl#4641")
def colocate_mem_fraction(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    frac = r.rollout.sglang.mem_fraction_static
    if r.cluster.colocate and frac > COLOCATE_MEM_FRACTION:
        yield warning("companion.colocate-mem-fraction", "rollout.sglang.mem_fraction_static",
                      f"mem_fraction_static {frac} with colocated training leaves little room for weight "
                      "updates (FP8 re-quantization materializes tensors) and CUDA graphs",
                      hint=f"use <= {COLOCATE_MEM_FRACTION} (slime's colocated scripts use 0.7)")


@rule("companion.int4-asymmetric", "warning",
      source="reference §5.3, §6.2 (THUDM/slime@624b824a:tools/convert_hf_to_int4_direct.py)")
def int4_asymmetric(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    found = int4_checkpoint(r)
    if found is not None and int4_weights(found[1]).get("symmetric") is False:
        yield warning("companion.int4-asymmetric", found[0],
                      f"{found[1].root} is asymmetric INT4: the QAT fake quant is symmetric, and slime packs "
                      "zero points in AWQ order, not the compressed-tensors layout",
                      hint="convert with --is-symmetric (recipe-runner convert int4 is symmetric)")


@rule("companion.delta-colocate", "error", source=f"{SLIME_ARGS}:2059-2075")
def delta_weight_update_with_colocate(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    if _flag_value(r.training.extra_args, "--update-weight-mode") == "delta" and r.cluster.colocate:
        yield error("companion.delta-colocate", "training.extra_args",
                    "--update-weight-mode delta is not allowed with --colocate (slime raises at start-up)",
                    hint="set cluster.colocate=false with cluster.rollout_gpus=N, or drop the delta mode")


@rule("companion.offload-extra-args", "error",
      source="NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:1189-1193")
def offload_flag_without_precision_aware(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    extra = r.training.extra_args
    if "--optimizer-cpu-offload" in extra and not r.optimizer.cpu_offload and "--use-precision-aware-optimizer" \
            not in extra and not r.optimizer.precision_aware:
        yield error("companion.offload-extra-args", "training.extra_args",
                    "--optimizer-cpu-offload without --use-precision-aware-optimizer (Megatron asserts)",
                    hint="remove the flag and set optimizer.cpu_offload=true (it adds the precision-aware optimizer)")


@rule("companion.mode-env", ("error", "warning"),
      source="pain-points §2.1, §3.2 (radixark/miles#1685, #2478)")
def mode_env_overridden(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """launch.env replacing a variable the mode sets: QAT silently off, or a different group or scale format."""
    for key, want in job_env(mode(r.precision.mode), r.precision.group_size).items():
        got = r.launch.env.get(key)
        if got is None or got == want:
            continue
        make = warning if key == "OPEN_TRAINING_INT4_GROUP_SIZE" else error
        yield make("companion.mode-env", f"launch.env.{key}",
                   f"{key}={got} overrides the {r.precision.mode} mode's {key}={want}",
                   hint=f"remove launch.env.{key} (the mode sets it)")


@rule("hardware.stack", "note", source="hardware.REQUIREMENTS (reference §9.8-9.10)")
@rule("hardware.caution", "warning",
      source="; ".join(q.caution_source for q in REQUIREMENTS.values() if q.caution_source))
def gpu_stack(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """What the mode needs of the image (a note), and GPUs where it failed upstream (a warning)."""
    m, gpu = mode(r.precision.mode), GPUS[r.cluster.gpu]
    for feature in dict.fromkeys(f for f in (m.train_feature, m.rollout_feature) if f):
        need = REQUIREMENTS[feature]
        if need.software:
            yield note("hardware.stack", "precision.mode", f"{m.name} ({feature}) needs {need.software}")
        if gpu.architecture in need.caution_architectures:
            yield warning("hardware.caution", "cluster.gpu",
                          f"{feature} on {gpu.name} ({gpu.architecture}) failed in upstream reports",
                          hint="prefer a Hopper GPU, or another precision mode", source=need.caution_source)


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None
