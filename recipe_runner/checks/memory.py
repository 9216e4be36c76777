"""Memory rules: the estimate of recipe_runner.estimate against the GPU's HBM (pain-points §6)."""

from __future__ import annotations

from collections.abc import Iterator

from recipe_runner.checks.finding import Finding, error, warning
from recipe_runner.checks.registry import rule
from recipe_runner.estimate import GB, estimate
from recipe_runner.models import ModelShape
from recipe_runner.spec import Recipe

OOM_SOURCE = "slime FAQ Q3/Q11 (THUDM/slime@624b824a:docs/en/get_started/qa.md); skypilot-org/skypilot#10269"


@rule("memory.train-states", "error", source=OOM_SOURCE)
@rule("memory.train-total", "warning", source=OOM_SOURCE)
def train_states_fit(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    e = estimate(r, s)
    t = e.train
    if t.states > e.hbm:
        yield error("memory.train-states", "parallel.expert",
                    f"training weights + grads + optimizer need {t.states / GB:.1f} GB per GPU, "
                    f"{e.gpu} has {e.hbm / GB:.0f} GB", hint="raise parallel.tensor / pipeline / expert, "
                    "or set optimizer.cpu_offload=true")
    elif t.total > e.hbm:
        yield warning("memory.train-total", "training.max_tokens_per_gpu",
                      f"training needs about {t.total / GB:.1f} GB per GPU with activations and logits of "
                      f"{r.training.max_tokens_per_gpu} tokens, {e.gpu} has {e.hbm / GB:.0f} GB",
                      hint="lower training.max_tokens_per_gpu (slime FAQ Q3: start at max_response_len / CP), "
                      "or set training.recompute=true")


@rule("memory.rollout-weights", "error",
      source="pain-points §6 (sglang-omni#292: an init OOM needs a higher mem_fraction_static)")
def rollout_weights_fit(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    ro = estimate(r, s).rollout
    if ro.weights > ro.static_pool:
        yield error("memory.rollout-weights", "rollout.gpus_per_engine",
                    f"rollout weights need {ro.weights / GB:.1f} GB per GPU, more than the static pool of "
                    f"{ro.static_pool / GB:.1f} GB (mem_fraction_static {r.rollout.sglang.mem_fraction_static})",
                    hint="use more GPUs per engine (and rollout.sglang.expert_parallel_size), a lower-precision "
                    "mode, or a higher rollout.sglang.mem_fraction_static")


@rule("memory.kv-batch", "warning",
      source="recipe_runner/estimate.py formulas (SGLang static pool = mem_fraction_static * HBM)")
def kv_holds_batch(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    ro = estimate(r, s).rollout
    if ro.weights <= ro.static_pool and ro.sequences < ro.needed:
        yield warning("memory.kv-batch", "rollout.sglang.mem_fraction_static",
                      f"the KV cache holds {ro.kv_tokens:,} tokens per engine = {ro.sequences} sequences of "
                      f"{r.rollout.max_response_len} tokens, but one rollout batch sends {ro.needed} per engine: "
                      "the rest queue", hint="use more rollout GPUs, fewer GPUs per engine, or a lower "
                      "precision mode (KV budget = mem_fraction_static * HBM - weights)")
