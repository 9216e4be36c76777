"""The checkpoint preparation steps, from the source checkpoint's format: dequant-bf16, torch-dist, convert.

Order (slime's workflow, THUDM/slime@624b824a:docs/en/get_started/quick_start.md:70-93, tools/): an FP8 or INT4
release is dequantized to BF16 first (tools/fp8_cast_bf16.py, tools/convert_k2_thinking_int4_to_bf16.py; ours:
`recipe-runner convert bf16`), the BF16 checkpoint becomes Megatron's torch_dist (tools/convert_hf_to_torch_dist.py)
and the rollout checkpoint (`recipe-runner convert fp8|int4`). Each step skips itself when its output holds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from recipe_runner import torch_dist
from recipe_runner.ckpt_paths import CheckpointPaths
from recipe_runner.precision import conversion_params, mode
from recipe_runner.resolve import Resolved
from recipe_runner.steps import Conversion, Step, W, host_port
from recipe_runner.torch_dist_job import command


@dataclass(frozen=True, kw_only=True)
class Dequantize(Step):
    """Dequantize the FP8-block or INT4-pack release SRC to the BF16 checkpoint DST (`recipe-runner convert bf16`)."""

    name: ClassVar[str] = "dequant-bf16"
    source_format: str  # "fp8-block" | "int4-pack"
    src: str
    dst: str

    @property
    def argv(self) -> list[str]:
        return ["recipe-runner", "convert", "bf16", self.src, self.dst]

    def fields(self) -> dict:
        return {"source_format": self.source_format, "src": self.src, "dst": self.dst}


@dataclass(frozen=True, kw_only=True)
class TorchDist(Step):
    """slime's HF -> torch_dist converter on the BF16 checkpoint `hf`, writing `save`, with the training run's
    model args: `nproc_per_node` processes (torchrun when more than one) on each of `nnodes` nodes; across nodes
    through the Ray cluster at `ray_address` (a Ray job's own cluster when None), with `layout_args` (the parallel
    sizes torch_dist.Layout picked, when it picked them)."""

    name: ClassVar[str] = "torch-dist"
    hf: str
    save: str
    slime: str  # slime's checkout: the converter is its tools/convert_hf_to_torch_dist.py
    pythonpath: tuple[str, ...]
    nnodes: int = 1
    nproc_per_node: int
    gpus_per_node: int  # GPUs each node's share asks Ray for (0 on a CPU-only cluster)
    layout_args: tuple[str, ...] = ()
    model_args: tuple[str, ...]
    ray_address: str | None = None  # the head's GCS address (HOST:PORT) for a multi-node run from a script

    @property
    def across_nodes(self) -> bool:
        """Runs through the Ray cluster, so after it has started (the single-node step runs before)."""
        return self.nnodes > 1

    @property
    def spec(self) -> dict:
        """torch_dist_job.run's input (JSON: also the Ray job's)."""
        return {"hf": self.hf, "save": self.save, "slime": self.slime, "pythonpath": list(self.pythonpath),
                "nnodes": self.nnodes, "nproc_per_node": self.nproc_per_node, "gpus_per_node": self.gpus_per_node,
                "layout_args": list(self.layout_args), "model_args": list(self.model_args),
                "ray_address": self.ray_address}

    @property
    def converter_argv(self) -> list[str]:
        """The converter's own command line (node 0's: cd slime && PYTHONPATH=... this), as the plan's paths give
        it; across nodes torchrun's master address is node 0's, found at run time."""
        return command(self.spec, self.hf, self.save)

    def script_argv(self, ray_address: W | None) -> list[str | W]:
        """`recipe-runner torch-dist ...` with `ray_address` (a renderer's run-time value where it is not known)."""
        across = ["--nnodes", str(self.nnodes), "--gpus-per-node", str(self.gpus_per_node)] if self.across_nodes \
            else []
        address: list[str | W] = ["--ray-address", ray_address] if self.across_nodes and ray_address else []
        return ["recipe-runner", "torch-dist", "--slime", self.slime, "--pythonpath", ":".join(self.pythonpath),
                "--nproc-per-node", str(self.nproc_per_node), *across, *address, self.hf, self.save, "--",
                *self.model_args, *self.layout_args]

    @property
    def argv(self) -> list[str]:
        """`recipe-runner torch-dist ...`: the step as the shell and sbatch scripts run it (cli/prep.py)."""
        return self.script_argv(self.ray_address)

    def fields(self) -> dict:
        return {**self.spec, "converter_argv": self.converter_argv}


def steps(resolved: Resolved, paths: CheckpointPaths) -> list[Step]:
    r = resolved.recipe
    out: list[Step] = []
    if paths.dequantize:
        out.append(Dequantize(source_format=paths.source.format, src=paths.hf, dst=paths.bf16,
                              description=f"dequantize the {paths.source.format} release to BF16 (skipped when "
                              "DST already holds this conversion)"))
    where = torch_dist.layout(resolved)
    ray = r.cluster.ray
    out.append(TorchDist(hf=paths.bf16, save=paths.torch_dist, slime=r.launch.working_dir,
                         pythonpath=tuple(r.launch.pythonpath), nnodes=where.nnodes,
                         nproc_per_node=where.nproc_per_node,
                         gpus_per_node=where.nproc_per_node if r.cluster.ray_gpus_per_node else 0,
                         layout_args=tuple(where.args),
                         model_args=tuple(torch_dist.model_args(resolved)),
                         ray_address=host_port(ray.head_ip, ray.port) if ray.head_ip else None,
                         description=torch_dist.description(resolved, where)))
    m = mode(r.precision.mode)
    if paths.rollout_converted:
        out.append(Conversion(kind=m.conversion, src=paths.bf16, dst=paths.rollout,
                              params=conversion_params(m, r.precision.group_size),
                              description=f"convert the BF16 checkpoint to the {m.rollout_format} rollout "
                              "checkpoint (skipped when DST already holds this conversion)"))
    return out


def split_by_cluster(prep: list[Step]) -> tuple[list[Step], list[Step]]:
    """(the preparation steps that run before Ray starts, those that run through it: a multi-node torch-dist)."""
    through = [s for s in prep if isinstance(s, TorchDist) and s.across_nodes]
    return [s for s in prep if s not in through], through


def preparation(plan_steps: list[Step]) -> list[Step]:
    """The plan's checkpoint preparation steps, in order: what must be done before the cluster starts the job."""
    return [s for s in plan_steps if isinstance(s, (Dequantize, TorchDist, Conversion))]


def warnings(resolved: Resolved) -> list[str]:
    w = torch_dist.memory_warning(resolved, torch_dist.layout(resolved))
    return [w] if w else []
