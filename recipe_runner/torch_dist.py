"""The torch-dist step: slime's HF -> Megatron torch_dist converter with exactly the training run's model args, on
as many nodes as the BF16 weights need.

The model args come from the one builder the training argv uses (models.model_flags), so the checkpoint training
loads is built with the architecture training assumes. The run itself (skip when done, Kimi's model_type, atomic
output, one torchrun per node) is torch_dist_job.py, shared by `launch` and the scripts.

Where it runs (`layout`): slime's tool gives each process a pipeline stage. With pipeline size 1 (the default) it
sets it to the world size, halved while the last stage would be empty, and asserts world_size <= num_layers
(THUDM/slime@624b824a:tools/convert_hf_to_torch_dist.py:45-72), so the weights split over the world; the rest of
the world replicates them (data parallel), which costs memory and buys nothing. The step therefore takes the fewest
nodes whose GPUs hold the largest stage, and on a MoE model gives the replicas the experts to split instead
(`--expert-model-parallel-size`, which must divide the experts and world / pipeline: Megatron-LM@1dcf0da:megatron/
training/arguments.py:1024-1027): slime's own multi-node conversions do that (docs/en/examples/deepseek-r1.md:29-50:
4 nodes, pipeline 8, expert 4; glm5.2-744B-A40B.md:33-56). torch_dist is resharded at load, so this layout need not
match training's (glm5.2-744B-A40B.md:27). `checkpoints.torch_dist_nodes` sets the node count instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recipe_runner.estimate import params
from recipe_runner.hardware import GPUS
from recipe_runner.models import ModelShape, model_flags
from recipe_runner.resolve import Resolved
from recipe_runner.steps import split_flags
from recipe_runner.torch_dist_job import MODEL_TYPE_REWRITE

BF16_BYTES = 2
# Share of a GPU's memory the converter's weights may take: the rest is the CUDA context, slime's loader holding a
# layer's HF tensors beside the model, and the distributed checkpoint writer's buffers.
HBM_SHARE = 0.7


@dataclass(frozen=True)
class Layout:
    """Nodes x processes of the conversion, its pipeline and expert sizes, and the BF16 weights per GPU."""

    nnodes: int
    nproc_per_node: int
    pipeline: int  # pipeline stages: the tool's own choice, passed explicitly only with experts split
    last_stage_layers: int
    expert: int  # expert-parallel size (1: none)
    gb_per_gpu: float  # BF16 weights of the fullest stage on one GPU (decimal GB)
    hbm_gb: float

    @property
    def world(self) -> int:
        return self.nnodes * self.nproc_per_node

    @property
    def fits(self) -> bool:
        return self.gb_per_gpu <= self.hbm_gb * HBM_SHARE

    @property
    def args(self) -> list[str]:
        """The parallel flags the step passes: none when the tool's own pipeline choice is the layout (expert 1);
        with experts split, the pipeline too (the tool only chooses when it is 1)."""
        if self.expert == 1:
            return []
        return ["--pipeline-model-parallel-size", str(self.pipeline), "--decoder-last-pipeline-num-layers",
                str(self.last_stage_layers), "--expert-model-parallel-size", str(self.expert)]


def tool_pipeline(layers: int, world: int) -> tuple[int, int] | None:
    """(pipeline size, layers of its last stage) as slime's tool picks them for `world` processes
    (tools/convert_hf_to_torch_dist.py:54-70: every stage but the last gets ceil(layers / pp)); None where the tool
    finds none (it raises)."""
    if world > layers:
        return None
    pp = world
    while True:
        last = layers - math.ceil(layers / pp) * (pp - 1)
        if last > 0:
            return pp, last
        if pp % 2:
            return None
        pp //= 2


def stage_gb(s: ModelShape, pipeline: int, expert: int) -> float:
    """BF16 GB on one GPU of the fullest stage: ceil(layers / pipeline) layers, each counted as a MoE layer (the
    worst case), its routed experts split `expert` ways, plus the larger of the embedding and the output layer."""
    p = params(s)
    moe_layers = sum(s.moe_layers) if s.is_moe else 0
    per_layer = (p.linears + p.small) / s.layers + (p.experts / moe_layers / expert if moe_layers else 0)
    ends = p.embed + p.lm_head if pipeline == 1 else max(p.embed, p.lm_head)
    return (math.ceil(s.layers / pipeline) * per_layer + ends) * BF16_BYTES / 1e9


def _expert_size(s: ModelShape, replicas: int) -> int:
    """The largest expert-parallel size that divides both the experts and the replicas (world / pipeline)."""
    if not s.is_moe:
        return 1
    return max(e for e in range(1, replicas + 1) if replicas % e == 0 and s.experts % e == 0)


def _on(s: ModelShape, nnodes: int, nproc: int, hbm: float) -> Layout | None:
    """The layout on `nnodes` x `nproc` processes: the tool's pipeline, the experts split over its replicas when
    the weights do not fit without; None where the tool finds no pipeline."""
    picked = tool_pipeline(s.layers, nnodes * nproc)
    if picked is None:
        return None
    pp, last = picked
    for expert in (1, _expert_size(s, nnodes * nproc // pp)):
        layout = Layout(nnodes, nproc, pp, last, expert, stage_gb(s, pp, expert), hbm)
        if layout.fits:
            break
    return layout


def layout(resolved: Resolved) -> Layout:
    """The fewest nodes (up to cluster.nodes, at most one process per layer) whose GPUs hold the weights; the most
    when none does (the plan warns); checkpoints.torch_dist_nodes when set."""
    r, s = resolved.recipe, resolved.shape
    gpus, hbm = r.cluster.gpus_per_node, GPUS[r.cluster.gpu].memory_gb
    single = _on(s, 1, max(1, min(gpus, s.layers)), hbm)
    assert single is not None  # one node: at most one process per layer, and a world of 1 always has a pipeline
    if r.checkpoints.torch_dist_nodes:  # checkpoint.torch-dist-nodes refuses one with no pipeline
        chosen = _on(s, r.checkpoints.torch_dist_nodes, gpus, hbm) if r.checkpoints.torch_dist_nodes > 1 else single
        assert chosen is not None
        return chosen
    candidates = [single] + [x for n in range(2, r.cluster.nodes + 1) if (x := _on(s, n, gpus, hbm))]
    return next((x for x in candidates if x.fits), candidates[-1])


def model_args(resolved: Resolved) -> list[str]:
    """The model group of train.py's argv (models.model_flags with model.extra_args), with any of its flags that
    training.extra_args sets again taking that value (argparse reads the last); the plan's parallelism and
    performance flags are not model args, so a dispatcher the perf group picks (DeepEP's flex) stays out."""
    r = resolved.recipe
    derived = model_flags(resolved.shape, r.model.extra_args)
    names = {a.flag for a in derived}
    again = {a.flag: a for a in split_flags(r.training.extra_args) if a.flag in names}
    return [w for a in derived for w in again.get(a.flag, a).argv]


def description(resolved: Resolved, where: Layout) -> str:
    rewrite = MODEL_TYPE_REWRITE.get(resolved.shape.model_type)
    what = f", config.json copy with model_type {rewrite}" if rewrite else " with the run's model args"
    on = f" on {where.nnodes} nodes x {where.nproc_per_node} GPUs" if where.nnodes > 1 else ""
    return f"slime's HF -> torch_dist converter{what}{on} (skipped when done)"


def memory_warning(resolved: Resolved, where: Layout) -> str | None:
    """A warning when the step's GPUs cannot hold the BF16 weights it loads, with what to change."""
    if where.fits:
        return None
    r = resolved.recipe
    return (f"checkpoints.torch_dist: the torch-dist step's {where.nnodes} node(s) x {where.nproc_per_node} "
            f"{r.cluster.gpu} hold about {where.gb_per_gpu:.0f} GB of BF16 weights per GPU, over {HBM_SHARE:.0%} of "
            f"its {where.hbm_gb:g} GB: convert on a cluster with more nodes or larger GPUs (cluster.nodes, "
            "cluster.gpu), or set checkpoints.torch_dist to a checkpoint converted elsewhere; the step is skipped "
            "once the checkpoint exists")
