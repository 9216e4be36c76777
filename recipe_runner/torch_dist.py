"""The torch-dist step: slime's HF -> Megatron torch_dist converter with exactly the training run's model args.

The model args come from the one builder the training argv uses (models.model_flags), so the checkpoint training
loads is built with the architecture training assumes. The converter runs under `torchrun` on one node's GPUs (at
most one process per layer: the tool sets pipeline parallelism to the world size and asserts world_size <=
num_layers, THUDM/slime@624b824a:tools/convert_hf_to_torch_dist.py:45-72). The run itself (skip when done, Kimi's
model_type, atomic output) is torch_dist_job.py, shared by `launch` and the scripts.
"""

from __future__ import annotations

import math

from recipe_runner.estimate import params
from recipe_runner.hardware import GPUS
from recipe_runner.models import model_flags
from recipe_runner.resolve import Resolved
from recipe_runner.steps import split_flags
from recipe_runner.torch_dist_job import MODEL_TYPE_REWRITE, TOOL

BF16_BYTES = 2


def processes(resolved: Resolved) -> int:
    """Converter processes: one per GPU of a node, at most one per layer."""
    return max(1, min(resolved.recipe.cluster.gpus_per_node, resolved.shape.layers))


def launcher(nproc: int) -> list[str]:
    return ["python3"] if nproc == 1 else ["torchrun", "--nproc-per-node", str(nproc)]


def model_args(resolved: Resolved) -> list[str]:
    """The model group of train.py's argv (models.model_flags with model.extra_args), with any of its flags that
    training.extra_args sets again taking that value (argparse reads the last); the plan's parallelism and
    performance flags are not model args, so a dispatcher the perf group picks (DeepEP's flex) stays out."""
    r = resolved.recipe
    derived = model_flags(resolved.shape, r.model.extra_args)
    names = {a.flag for a in derived}
    again = {a.flag: a for a in split_flags(r.training.extra_args) if a.flag in names}
    return [w for a in derived for w in again.get(a.flag, a).argv]


def description(resolved: Resolved) -> str:
    rewrite = MODEL_TYPE_REWRITE.get(resolved.shape.model_type)
    what = f", config.json copy with model_type {rewrite}" if rewrite else " with the run's model args"
    return f"slime's HF -> torch_dist converter{what} (skipped when done)"


def memory_warning(resolved: Resolved) -> str | None:
    """A warning when one node's GPUs cannot hold the BF16 weights the converter loads (split by pipeline stage)."""
    r = resolved.recipe
    nproc = processes(resolved)
    per_gpu = params(resolved.shape).total * BF16_BYTES / nproc / 1e9
    hbm = GPUS[r.cluster.gpu].memory_gb
    if per_gpu <= hbm * 0.9:
        return None
    nodes = math.ceil(per_gpu * nproc / (hbm * 0.9 * r.cluster.gpus_per_node))
    return (f"checkpoints.torch_dist: the torch-dist step runs slime's converter on one node ({nproc} x "
            f"{r.cluster.gpu}), about {per_gpu:.0f} GB of BF16 weights per GPU, over its {hbm:g} GB: run "
            f"{TOOL} under torchrun across about {nodes} nodes by hand (docs/launch.md), or convert on a node "
            "with more GPUs; the step is skipped once the checkpoint exists")
