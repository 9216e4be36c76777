"""The torch-dist step: slime's HF -> Megatron torch_dist converter with exactly the training run's model args.

The model args come from the one builder the training argv uses (models.model_args), so the checkpoint training
loads is built with the architecture training assumes. The converter runs under `torchrun` on one node's GPUs
(at most one process per layer: the tool sets pipeline parallelism to the world size and asserts
world_size <= num_layers, THUDM/slime@624b824a:tools/convert_hf_to_torch_dist.py:45-72). The run itself
(skip when done, Kimi's model_type, atomic output) is torch_dist_job.py, shared by `launch` and the scripts.
"""

from __future__ import annotations

import math

from recipe_runner.ckpt_paths import CheckpointPaths
from recipe_runner.estimate import params
from recipe_runner.hardware import GPUS
from recipe_runner.models import model_args
from recipe_runner.resolve import Resolved
from recipe_runner.torch_dist_job import MODEL_TYPE_REWRITE, TOOL, command

BF16_BYTES = 2


def processes(resolved: Resolved) -> int:
    """Converter processes: one per GPU of a node, at most one per layer."""
    return max(1, min(resolved.recipe.cluster.gpus_per_node, resolved.shape.layers))


def launcher(nproc: int) -> list[str]:
    return ["python3"] if nproc == 1 else ["torchrun", "--nproc-per-node", str(nproc)]


def spec(resolved: Resolved, paths: CheckpointPaths) -> dict:
    """What torch_dist_job.run needs, as JSON data (the Ray job's only input)."""
    r = resolved.recipe
    return {"hf": paths.bf16, "save": paths.torch_dist, "slime": r.launch.working_dir,
            "pythonpath": list(r.launch.pythonpath), "command": launcher(processes(resolved)),
            "model_args": model_args(resolved.shape, r.model.extra_args)}


def slime_argv(s: dict) -> list[str]:
    """The converter's argv after the script name, as the plan's paths give it (what slime's parser reads)."""
    return command(s, s["hf"], s["save"])[len(s["command"]) + 1:]


def step_argv(s: dict) -> list[str]:
    """`recipe-runner torch-dist ...`: the step as the shell and sbatch scripts run it (cli: prep_cli)."""
    nproc = s["command"][-1] if len(s["command"]) > 1 else "1"
    return ["recipe-runner", "torch-dist", "--slime", s["slime"], "--pythonpath", ":".join(s["pythonpath"]),
            "--nproc-per-node", nproc, s["hf"], s["save"], "--", *s["model_args"]]


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
