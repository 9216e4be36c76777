"""Layout arithmetic, the one place: world size, model-parallel products, data-parallel sizes, engines.

By slime's and Megatron's own formulas (reference §1.3, §3.2). The one rule for an invalid layout: when a
model-parallel product does not divide the world, its data-parallel size is 0. `checks/layout_rules.py` reports
exactly those (layout.world-model-parallel, layout.world-expert-parallel); estimates of such a recipe
(`estimate.py`) count its state as not sharded over data parallel (a size of 1), and `recommend.py` only
proposes layouts whose sizes are not 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipe_runner.spec import Recipe


def model_parallel(tensor: int, pipeline: int, context: int) -> int:
    """GPUs one copy of the dense model spans: TP*PP*CP (NVIDIA/Megatron-LM@1dcf0daf:
    megatron/training/arguments.py:317-328)."""
    return tensor * pipeline * context


def expert_model_parallel(expert_tensor: int, expert: int, pipeline: int) -> int:
    """GPUs one copy of the routed experts spans: ETP*EP*PP (NVIDIA/Megatron-LM@1dcf0daf:
    megatron/core/parallel_state.py:790-797)."""
    return expert_tensor * expert * pipeline


def data_parallel(world: int, product: int) -> int:
    """world // product, or 0 when the product does not divide the world (an invalid layout)."""
    return world // product if world % product == 0 else 0


@dataclass(frozen=True)
class Layout:
    world: int  # training GPUs = nodes x GPUs per node
    model_parallel: int  # TP*PP*CP
    expert_model_parallel: int  # ETP*EP*PP
    dp: int  # world // (TP*PP*CP), 0 when it does not divide
    expert_dp: int  # world // (ETP*EP*PP), 0 when it does not divide
    rollout_gpus: int
    engines: int  # slime: floor(rollout GPUs / min(gpus_per_engine, gpus_per_node)) (slime/ray/rollout.py:1035)
    global_batch_size: int  # given, or rbs * n // num_steps_per_rollout (slime/utils/arguments.py:1971-1979)
    engine_tp: int  # SGLang TP of one engine (= --rollout-num-gpus-per-engine)


def label(r: Recipe) -> str:
    """The cluster shape as users write it: nodes x GPUs per node, e.g. 2x8."""
    return f"{r.cluster.nodes}x{r.cluster.gpus_per_node}"


def layout(r: Recipe) -> Layout:
    p, c, ro = r.parallel, r.cluster, r.rollout
    world = c.nodes * c.gpus_per_node
    model_par = model_parallel(p.tensor, p.pipeline, p.context)
    expert_par = expert_model_parallel(p.expert_tensor, p.expert, p.pipeline)
    rollout_gpus = c.rollout_gpus if c.rollout_gpus is not None else (world if c.colocate else 0)
    per_engine = min(ro.gpus_per_engine, c.gpus_per_node)
    if ro.global_batch_size is not None:
        gbs = ro.global_batch_size
    else:
        gbs = ro.batch_size * ro.n_samples_per_prompt // (ro.num_steps_per_rollout or 1)
    return Layout(
        world=world,
        model_parallel=model_par,
        expert_model_parallel=expert_par,
        dp=data_parallel(world, model_par),
        expert_dp=data_parallel(world, expert_par),
        rollout_gpus=rollout_gpus,
        engines=rollout_gpus // per_engine if per_engine else 0,
        global_batch_size=gbs,
        engine_tp=ro.gpus_per_engine,
    )
