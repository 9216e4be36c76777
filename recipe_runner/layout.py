"""Numbers derived from a recipe's layout, by slime's and Megatron's own formulas (reference §1.3, §3.2)."""

from __future__ import annotations

from dataclasses import dataclass

from recipe_runner.spec import Recipe


@dataclass(frozen=True)
class Layout:
    world: int  # training GPUs = nodes x GPUs per node
    dp: int  # world // (TP*PP*CP), 0 when it does not divide
    expert_dp: int  # world // (ETP*EP*PP)
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
    model_par = p.tensor * p.pipeline * p.context
    expert_par = p.expert_tensor * p.expert * p.pipeline
    rollout_gpus = c.rollout_gpus if c.rollout_gpus is not None else (world if c.colocate else 0)
    per_engine = min(ro.gpus_per_engine, c.gpus_per_node)
    if ro.global_batch_size is not None:
        gbs = ro.global_batch_size
    else:
        gbs = ro.batch_size * ro.n_samples_per_prompt // (ro.num_steps_per_rollout or 1)
    return Layout(
        world=world,
        dp=world // model_par if world % model_par == 0 else 0,
        expert_dp=world // expert_par if world % expert_par == 0 else 0,
        rollout_gpus=rollout_gpus,
        engines=rollout_gpus // per_engine if per_engine else 0,
        global_batch_size=gbs,
        engine_tp=ro.gpus_per_engine,
    )
