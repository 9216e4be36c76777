"""Checkpoint preparation steps from the source checkpoint's format, for every shipped recipe and per format:
dequant-bf16 -> torch-dist -> convert, the derived paths and where `explain` says they came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipe_runner.api import plan
from recipe_runner.compose import list_recipes
from recipe_runner.explain import explain
from recipe_runner.models import model_flags
from recipe_runner.prep_steps import Dequantize, TorchDist, preparation
from recipe_runner.resolve import resolve
from recipe_runner.steps import Conversion, split_flags
from tests.checks.fake_checkpoints import FP8, KIMI_INT4, write_checkpoint
from tests.conftest import run_cli

# recipe -> (format of checkpoints.hf, preparation steps): pinned for every shipped recipe
SHIPPED = {
    "deepseek-r1-bf16": ("fp8-block", ["dequant-bf16", "torch-dist"]),
    "glm5-744b-a40b-bf16": ("bf16", ["torch-dist"]),
    "kimi-k2-instruct-fp8-rollout": ("fp8-block", ["dequant-bf16", "torch-dist"]),
    "kimi-k2-thinking-int4": ("int4-pack", ["dequant-bf16", "torch-dist"]),
    "moonlight-16b-a3b-int4": ("bf16", ["torch-dist", "convert"]),
    "qwen3-235b-a22b-int4": ("bf16", ["torch-dist", "convert"]),
    "qwen3-30b-a3b-fp8": ("bf16", ["torch-dist", "convert"]),
    "qwen3-30b-a3b-fp8-rollout": ("bf16", ["torch-dist", "convert"]),
    "qwen3-30b-a3b-int4": ("bf16", ["torch-dist", "convert"]),
    "qwen3-30b-a3b-int4-rollout": ("bf16", ["torch-dist", "convert"]),
    "qwen3-32b-bf16": ("bf16", ["torch-dist"]),
    "qwen3-4b-bf16": ("bf16", ["torch-dist"]),
    "qwen3-4b-fp8": ("bf16", ["torch-dist", "convert"]),
    "qwen3-4b-fp8-rollout": ("bf16", ["torch-dist", "convert"]),
    "qwen3-next-80b-a3b-bf16": ("bf16", ["torch-dist"]),
    "qwen3.5-27b-bf16": ("bf16", ["torch-dist"]),
}


def prep(name: str, *overrides: str, recipes_dir: str | None = None) -> list:
    return preparation(plan(name, list(overrides), recipes_dir).steps)


def test_every_shipped_recipe_is_pinned() -> None:
    assert sorted(SHIPPED) == sorted(name for name, _ in list_recipes(None))


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_recipe_steps(name: str) -> None:
    fmt, names = SHIPPED[name]
    p = plan(name)
    steps = preparation(p.steps)
    assert [s.name for s in steps] == names
    dist = next(s for s in steps if isinstance(s, TorchDist))
    # preparation first, then Ray, then submit; a multi-node torch-dist runs through Ray, after the workers joined
    order = [s.name for s in p.steps]
    if dist.across_nodes:
        assert order.index("torch-dist") == order.index("submit") - 1 > order.index("ray-workers")
        order.remove("torch-dist")
        names = [n for n in names if n != "torch-dist"]
    assert order[:len(names)] == names
    assert explain(name, "checkpoints.hf_format").value == fmt
    # the converter gets the training run's model args, from the one builder; a flag the plan's perf group
    # replaces (DeepEP's flex dispatcher) is no model arg
    resolved = resolve(name)
    assert split_flags(dist.model_args) == model_flags(resolved.shape, resolved.recipe.model.extra_args)
    converter = {a.flag: a.values for a in split_flags(dist.model_args)}
    assert {a.flag: a.values for a in split_flags(p.train_arg_groups["model"])}.items() <= converter.items()
    train = p.train_args
    assert dist.save == train[train.index("--ref-load") + 1]
    if fmt != "bf16":
        dequant = steps[0]
        assert isinstance(dequant, Dequantize) and dequant.argv[:3] == ["recipe-runner", "convert", "bf16"]
        assert dist.hf == dequant.dst  # torch-dist reads the BF16 dequantization, not the release
    for conv in (s for s in steps if isinstance(s, Conversion)):
        assert conv.src == dist.hf and conv.dst == train[train.index("--hf-checkpoint") + 1]


def test_a_release_in_the_modes_rollout_format_is_served_as_is() -> None:
    p = plan("kimi-k2-thinking-int4", ["checkpoints.hf=/data/Kimi-K2-Thinking"])
    assert [s.name for s in p.steps] == ["dequant-bf16", "ray-head", "ray-workers", "torch-dist", "submit"]
    assert p.train_args[p.train_args.index("--hf-checkpoint") + 1] == "/data/Kimi-K2-Thinking"
    dequant, dist = p.step("dequant-bf16"), p.step("torch-dist")
    assert (dequant.src, dequant.dst) == ("/data/Kimi-K2-Thinking", "/data/Kimi-K2-Thinking-bf16")
    assert (dist.hf, dist.save) == ("/data/Kimi-K2-Thinking-bf16", "/data/Kimi-K2-Thinking_torch_dist")
    # another group size than the release's: the rollout checkpoint is converted from the BF16 copy
    other = prep("kimi-k2-thinking-int4", "precision.group_size=128", "checkpoints.hf_format=int4-pack")
    assert [s.name for s in other] == ["dequant-bf16", "torch-dist"]  # the release's group size is unknown here


@pytest.mark.parametrize("fmt, mode, names", [
    ("bf16", "fp8-rollout", ["torch-dist", "convert"]),
    ("fp8-block", "fp8-rollout", ["dequant-bf16", "torch-dist"]),
    ("fp8-block", "int4-rollout", ["dequant-bf16", "torch-dist", "convert"]),
    ("fp8-block", "bf16", ["dequant-bf16", "torch-dist"]),
    ("int4-pack", "int4-qat", ["dequant-bf16", "torch-dist"]),
    ("int4-pack", "fp8-full", ["dequant-bf16", "torch-dist", "convert"]),
])
def test_steps_per_source_format_from_the_recipe(fmt: str, mode: str, names: list[str]) -> None:
    steps = prep("qwen3-30b-a3b-int4", f"checkpoints.hf_format={fmt}", f"precision={mode}",
                 "rollout.gpus_per_engine=8", "rollout.sglang.expert_parallel_size=8")
    assert [s.name for s in steps] == names
    conv = next((s for s in steps if isinstance(s, Conversion)), None)
    if conv and fmt != "bf16":
        assert conv.src == "/root/Qwen3-30B-A3B-bf16"  # the rollout conversion starts from the BF16 copy


def test_the_checkpoints_config_beats_the_recipe(tmp_path: Path) -> None:
    fp8 = write_checkpoint(tmp_path / "fp8", "qwen3-30b-a3b", FP8, names=["x.weight", "x.weight_scale_inv"])
    steps = prep("qwen3-30b-a3b-fp8-rollout", f"checkpoints.hf={fp8}", "checkpoints.hf_format=bf16")
    assert [s.name for s in steps] == ["dequant-bf16", "torch-dist"]
    assert explain("qwen3-30b-a3b-fp8-rollout", "checkpoints.hf_format", [f"checkpoints.hf={fp8}"]).setter == (
        f"{fp8}/config.json (read here)")
    g32 = write_checkpoint(tmp_path / "int4", "qwen3-30b-a3b", {**KIMI_INT4, "config_groups": {"group_0": {
        "weights": {**KIMI_INT4["config_groups"]["group_0"]["weights"], "group_size": 32}}}})
    same = plan("qwen3-30b-a3b-int4", [f"checkpoints.hf={g32}", "precision.group_size=32"])
    assert [s.name for s in preparation(same.steps)] == ["dequant-bf16", "torch-dist"]
    assert same.rollout_checkpoint == str(g32)
    other = prep("qwen3-30b-a3b-int4", f"checkpoints.hf={g32}")  # group 128: converted from the BF16 copy
    assert [s.name for s in other] == ["dequant-bf16", "torch-dist", "convert"]
    assert other[2].dst == f"{g32}-bf16-INT4-g128"


def test_given_paths_are_used_as_they_are() -> None:
    steps = prep("deepseek-r1-bf16", "checkpoints.bf16=/data/ds-bf16", "checkpoints.torch_dist=/data/ds-dist")
    assert [s.name for s in steps] == ["torch-dist"]  # a given bf16 is not made
    assert (steps[0].hf, steps[0].save) == ("/data/ds-bf16", "/data/ds-dist")
    legacy = plan("qwen3-4b-bf16", ["checkpoints.ref_load=/data/old_torch_dist"])  # the field before torch_dist
    assert next(s for s in legacy.steps if isinstance(s, TorchDist)).save == "/data/old_torch_dist"
    assert legacy.train_args[legacy.train_args.index("--ref-load") + 1] == "/data/old_torch_dist"


def test_explain_names_where_each_checkpoint_path_came_from() -> None:
    shown = {k: explain("kimi-k2-thinking-int4", f"checkpoints.{k}") for k in
             ("hf", "hf_format", "bf16", "torch_dist", "ref_load", "rollout")}
    assert shown["hf"].setter.startswith("recipe kimi-k2-thinking-int4")
    assert shown["hf_format"].setter == "model.source_format"
    assert shown["bf16"].setter.startswith("derived: checkpoints.hf + '-bf16'")
    assert shown["torch_dist"].value == "/root/Kimi-K2-Thinking_torch_dist"
    assert shown["ref_load"].setter == "derived: checkpoints.torch_dist"
    assert "no conversion" in shown["rollout"].setter
    cli = run_cli("explain", "qwen3-30b-a3b-int4", "checkpoints.rollout", "checkpoints.hf=/d/Q")
    assert cli.code == 0 and "'/d/Q-INT4-g128'" in cli.out and "derived" in cli.out


def test_torch_dist_args_follow_a_model_flag_training_overrides() -> None:
    p = plan("qwen3-4b-bf16", ["training.extra_args=[--rotary-base,'5000000']"])
    dist = next(s for s in p.steps if isinstance(s, TorchDist))
    args = list(dist.model_args)
    assert args[args.index("--rotary-base") + 1] == "5000000" == p.train_args[p.train_args.index("--rotary-base") + 1]


def test_kimi_torch_dist_step_rewrites_the_model_type_and_json_carries_the_fields() -> None:
    out = run_cli("plan", "kimi-k2-instruct-fp8-rollout", "--format", "json")
    dist = next(s for s in json.loads(out.out)["steps"] if s["name"] == "torch-dist")
    assert "model_type deepseek_v3" in dist["description"]
    assert dist["nnodes"] == 4 and dist["layout_args"] == ["--pipeline-model-parallel-size", "16",
                                                           "--decoder-last-pipeline-num-layers", "1",
                                                           "--expert-model-parallel-size", "2"]
    assert dist["converter_argv"][:12] == ["torchrun", "--nnodes", "4", "--node-rank", "0", "--master-addr",
                                           "MASTER_ADDR", "--master-port", "MASTER_PORT", "--nproc-per-node", "8",
                                           "tools/convert_hf_to_torch_dist.py"]
    assert dist["converter_argv"][12:-4] == dist["model_args"] + dist["layout_args"]
    assert dist["converter_argv"][-4:] == ["--hf-checkpoint", "/root/Kimi-K2-Instruct-bf16", "--save",
                                           "/root/Kimi-K2-Instruct_torch_dist"]
    assert "--num-layers" in dist["model_args"]
