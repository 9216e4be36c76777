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
from recipe_runner.steps import Conversion, Step
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
    model args, `nproc_per_node` processes (torchrun when more than one)."""

    name: ClassVar[str] = "torch-dist"
    hf: str
    save: str
    slime: str  # slime's checkout: the converter is its tools/convert_hf_to_torch_dist.py
    pythonpath: tuple[str, ...]
    nproc_per_node: int
    model_args: tuple[str, ...]

    @property
    def spec(self) -> dict:
        """torch_dist_job.run's input (JSON: also the Ray job's)."""
        return {"hf": self.hf, "save": self.save, "slime": self.slime, "pythonpath": list(self.pythonpath),
                "command": torch_dist.launcher(self.nproc_per_node), "model_args": list(self.model_args)}

    @property
    def converter_argv(self) -> list[str]:
        """The converter's own command line (cd slime && PYTHONPATH=... this), as the plan's paths give it."""
        return command(self.spec, self.hf, self.save)

    @property
    def argv(self) -> list[str]:
        """`recipe-runner torch-dist ...`: the step as the shell and sbatch scripts run it (cli/prep.py)."""
        return ["recipe-runner", "torch-dist", "--slime", self.slime, "--pythonpath", ":".join(self.pythonpath),
                "--nproc-per-node", str(self.nproc_per_node), self.hf, self.save, "--", *self.model_args]

    def fields(self) -> dict:
        return {"hf": self.hf, "save": self.save, "slime": self.slime, "pythonpath": list(self.pythonpath),
                "nproc_per_node": self.nproc_per_node, "model_args": list(self.model_args),
                "converter_argv": self.converter_argv}


def steps(resolved: Resolved, paths: CheckpointPaths) -> list[Step]:
    r = resolved.recipe
    out: list[Step] = []
    if paths.dequantize:
        out.append(Dequantize(source_format=paths.source.format, src=paths.hf, dst=paths.bf16,
                              description=f"dequantize the {paths.source.format} release to BF16 (skipped when "
                              "DST already holds this conversion)"))
    out.append(TorchDist(hf=paths.bf16, save=paths.torch_dist, slime=r.launch.working_dir,
                         pythonpath=tuple(r.launch.pythonpath), nproc_per_node=torch_dist.processes(resolved),
                         model_args=tuple(torch_dist.model_args(resolved)),
                         description=torch_dist.description(resolved)))
    m = mode(r.precision.mode)
    if paths.rollout_converted:
        out.append(Conversion(kind=m.conversion, src=paths.bf16, dst=paths.rollout,
                              params=conversion_params(m, r.precision.group_size),
                              description=f"convert the BF16 checkpoint to the {m.rollout_format} rollout "
                              "checkpoint (skipped when DST already holds this conversion)"))
    return out


def preparation(plan_steps: list[Step]) -> list[Step]:
    """The plan's checkpoint preparation steps, in order: what must be done before the cluster starts the job."""
    return [s for s in plan_steps if isinstance(s, (Dequantize, TorchDist, Conversion))]


def warnings(resolved: Resolved) -> list[str]:
    w = torch_dist.memory_warning(resolved)
    return [w] if w else []
