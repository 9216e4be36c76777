"""Where the torch-dist step runs: the fewest nodes whose GPUs hold the BF16 weights, with slime's own pipeline
choice and the experts split over the replicas it would leave; the layout obeys the rules slime's tool and
Megatron apply to it (the conformance harness runs Megatron's real validate_args on every shipped recipe's)."""

from __future__ import annotations

import math

import pytest

from recipe_runner import prep_steps
from recipe_runner.api import plan
from recipe_runner.compose import list_recipes
from recipe_runner.prep_steps import TorchDist
from recipe_runner.resolve import resolve
from recipe_runner.torch_dist import HBM_SHARE, layout, tool_pipeline


@pytest.mark.parametrize(("layers", "world", "picked"), [
    (61, 32, (16, 1)),  # 32 stages of 2 leave the last none: halved (slime's loop)
    (61, 24, (6, 6)),  # 24 -> 12 -> 6
    (36, 8, (8, 1)),
    (9, 8, (2, 4)),
    (48, 8, (8, 6)),
    (4, 3, None),  # odd and the last stage empty: the tool raises
    (2, 8, None),  # more processes than layers: the tool asserts
])
def test_tool_pipeline_is_slimes_choice(layers: int, world: int, picked: tuple[int, int] | None) -> None:
    """THUDM/slime@624b824a:tools/convert_hf_to_torch_dist.py:45-70."""
    assert tool_pipeline(layers, world) == picked


# recipe -> (nodes, explicit layout args) on the shipped clusters (8 x H200 per node)
SHIPPED = {
    "kimi-k2-thinking-int4": (4, ["--pipeline-model-parallel-size", "16", "--decoder-last-pipeline-num-layers", "1",
                                  "--expert-model-parallel-size", "2"]),
    "kimi-k2-instruct-fp8-rollout": (4, ["--pipeline-model-parallel-size", "16",
                                         "--decoder-last-pipeline-num-layers", "1", "--expert-model-parallel-size",
                                         "2"]),
    "deepseek-r1-bf16": (2, []),
    "glm5-744b-a40b-bf16": (3, ["--pipeline-model-parallel-size", "12", "--decoder-last-pipeline-num-layers", "1",
                                "--expert-model-parallel-size", "2"]),
}


@pytest.mark.parametrize("name", [n for n, _ in list_recipes(None)])
def test_every_shipped_layout_obeys_the_tools_and_megatrons_rules(name: str) -> None:
    resolved = resolve(name)
    r, s = resolved.recipe, resolved.shape
    where = layout(resolved)
    step = next(x for x in plan(name).steps if isinstance(x, TorchDist))
    assert (step.nnodes, list(step.layout_args)) == SHIPPED.get(name, (1, []))
    assert where.fits, f"{name}: {where.gb_per_gpu:.0f} GB per GPU"
    assert where.world <= s.layers and 1 <= where.nnodes <= r.cluster.nodes
    if where.nnodes > 1:
        assert where.nproc_per_node == r.cluster.gpus_per_node
    # Megatron's rules, the ones its validate_args does not run (the harness runs those: docs/conformance.md):
    # world % (TP*PP*CP) (NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:317-328), the stages but the
    # last even (megatron/core/transformer/transformer_config.py:1385-1445), experts % EP
    # (arguments.py:1024-1027) and world % (ETP*EP*PP) (megatron/core/parallel_state.py:790-797)
    assert where.world % where.pipeline == 0
    assert (s.layers - where.last_stage_layers) % max(1, where.pipeline - 1) == 0
    if where.expert > 1:
        assert s.experts % where.expert == 0 and where.world % (where.expert * where.pipeline) == 0
    fewer = [n for n in range(1, where.nnodes)]
    for n in fewer:  # the fewest nodes: none below holds the weights
        smaller = layout(resolve(name, (f"checkpoints.torch_dist_nodes={n}",)))
        assert not smaller.fits


def test_the_node_count_follows_the_gpu_memory_and_can_be_set() -> None:
    h100 = layout(resolve("kimi-k2-thinking-int4", ("cluster.gpu=H100",)))
    h200 = layout(resolve("kimi-k2-thinking-int4"))
    assert h100.nnodes > h200.nnodes and h100.fits
    assert h100.gb_per_gpu <= h100.hbm_gb * HBM_SHARE < h100.hbm_gb
    five = layout(resolve("kimi-k2-thinking-int4", ("checkpoints.torch_dist_nodes=5",)))
    assert (five.nnodes, five.pipeline, five.last_stage_layers, five.expert) == (5, 5, 9, 8)
    assert five.args == ["--pipeline-model-parallel-size", "5", "--decoder-last-pipeline-num-layers", "9",
                         "--expert-model-parallel-size", "8"]


def test_a_cluster_too_small_for_the_weights_warns_with_the_most_it_has() -> None:
    resolved = resolve("kimi-k2-thinking-int4", ("cluster.nodes=2",))  # training would not fit either
    where = layout(resolved)
    assert where.nnodes == 2 and not where.fits
    (warning,) = prep_steps.warnings(resolved)
    assert warning.startswith("checkpoints.torch_dist: ") and "2 node(s) x 8 H200" in warning
    assert "cluster.nodes" in warning


def test_a_dense_model_splits_no_experts() -> None:
    where = layout(resolve("qwen3-32b-bf16", ("cluster.gpu=A100", "cluster.gpus_per_node=2")))
    assert (where.nnodes, where.nproc_per_node, where.pipeline, where.expert, where.args) == (1, 2, 2, 1, [])
    assert math.isclose(where.gb_per_gpu, 33.5, rel_tol=0.05)  # 64 layers of Qwen3-32B (65.5 GB BF16) in two
