"""The typed plan (recipe_runner/steps.py): steps and train args are data, rendered to an argv only at the edge,
and the renderers and the launcher read the data, never an argv our code built."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from recipe_runner.api import plan
from recipe_runner.plan import build_plan
from recipe_runner.render import render
from recipe_runner.resolve import resolve
from recipe_runner.steps import (
    DEFAULT_DASHBOARD,
    Arg,
    Conversion,
    Job,
    RayHead,
    RayWorkers,
    TrainArgs,
    converter_args,
    split_flags,
)
from tests.launch.kube import KUBE

PACKAGE = Path(__file__).resolve().parent.parent / "recipe_runner"


# ---- train args ---------------------------------------------------------------------------------------------------

def test_each_flag_once_a_same_repeat_stays_first_a_different_one_wins_last() -> None:
    t = TrainArgs.build({
        "model": [Arg("--softmax-fp32"), Arg("--dispatcher", ("alltoall",)), Arg("--layers", ("2",))],
        "perf": [Arg("--dispatcher", ("flex",))],
        "misc": [Arg("--dropout", ("0.0",)), Arg("--softmax-fp32")],
    })
    assert t.group_argv() == {"model": ["--softmax-fp32", "--layers", "2"], "perf": ["--dispatcher", "flex"],
                              "misc": ["--dropout", "0.0"]}
    assert t.argv == ["--softmax-fp32", "--layers", "2", "--dispatcher", "flex", "--dropout", "0.0"]
    assert t.flags() == {"--softmax-fp32": (), "--layers": ("2",), "--dispatcher": ("flex",), "--dropout": ("0.0",)}


def test_split_flags_keeps_a_verbatim_list_as_is() -> None:
    argv = ["--rotary-percent", "1.0", "--no-masked-softmax-fusion", "--eval-prompt-data", "a", "x", "b", "y"]
    args = split_flags(argv)
    assert [a.flag for a in args] == ["--rotary-percent", "--no-masked-softmax-fusion", "--eval-prompt-data"]
    assert [w for a in args for w in a.argv] == argv


@pytest.mark.parametrize("recipe", ["deepseek-r1-bf16", "moonlight-16b-a3b-int4", "qwen3-30b-a3b-int4"])
def test_every_plan_flag_is_given_once(recipe: str) -> None:
    p = plan(recipe)
    flags = [a.flag for a in p.train]
    assert len(flags) == len(set(flags))
    assert p.train_args == [w for a in p.train for w in a.argv] == p.job.command[2:]


def test_deepep_dispatcher_replaces_the_model_default_instead_of_following_it() -> None:
    args = plan("moonlight-16b-a3b-int4").train_args
    assert args.count("--moe-token-dispatcher-type") == 1
    assert args[args.index("--moe-token-dispatcher-type") + 1] == "flex"
    assert plan("moonlight-16b-a3b-int4", ["training.deepep=false"]).train.flags()["--moe-token-dispatcher-type"] \
        == ("alltoall",)


# ---- steps --------------------------------------------------------------------------------------------------------

def test_steps_are_typed_and_render_their_argv() -> None:
    p = plan("qwen3-235b-a22b-int4", ["cluster.ray.head_ip=fd00::1", "cluster.ray.port=6390"])
    convert, head, workers, job = p.steps
    assert isinstance(convert, Conversion) and convert.params == {"group_size": 128}
    assert convert.argv == ["recipe-runner", "convert", "int4", convert.src, convert.dst, "--group-size", "128"]
    assert isinstance(head, RayHead) and (head.ip, head.port, head.gpus) == ("fd00::1", 6390, 8)
    assert isinstance(workers, RayWorkers) and (workers.address, workers.nodes) == ("[fd00::1]:6390", 7)
    assert workers.argv == ["ray", "start", "--address", "[fd00::1]:6390", "--num-gpus", "8", "--disable-usage-stats"]
    assert isinstance(job, Job) and job.address == p.dashboard_address == "http://[fd00::1]:8265"
    assert job.argv == ["ray", "job", "submit", "--address", job.address, "--runtime-env-json", job.runtime_env_json,
                        "--", "python3", job.script, *p.train_args]
    assert json.loads(job.runtime_env_json) == {"env_vars": p.env}


def test_fp8_conversion_carries_its_block_and_the_converter_flags_stay_at_the_edge() -> None:
    step = plan("qwen3-30b-a3b-fp8").step("convert")
    assert step.kind == "fp8" and step.params == {"block_size": [128, 128]}
    assert converter_args(step.params) == ["--block-size", "128", "128"]


def test_json_keeps_the_contract_and_adds_each_steps_fields() -> None:
    p = plan("qwen3-30b-a3b-int4")
    d = json.loads(render(p, "json"))
    assert d["train_args"] == p.train_args and d["train_arg_groups"] == p.train_arg_groups
    for step, data in zip(p.steps, d["steps"], strict=True):
        assert list(data)[:6] == ["name", "argv", "env", "description", "where", "forward_env"]
        assert data["argv"] == step.argv
    assert d["steps"][0] | {"argv": None} == {
        "name": "convert", "argv": None, "env": {}, "description": p.steps[0].description, "where": "head",
        "forward_env": [], "kind": "int4", "src": "/root/Qwen3-30B-A3B", "dst": "/root/Qwen3-30B-A3B-INT4-g128",
        "params": {"group_size": 128}}


def test_the_default_ray_address_is_made_in_one_place() -> None:
    from recipe_runner import launch

    local = plan("qwen3-4b-bf16").dashboard_address
    assert DEFAULT_DASHBOARD == "http://127.0.0.1:8265" == launch.DEFAULT_ADDRESS == local


# ---- renderers read the data --------------------------------------------------------------------------------------

def test_renderers_follow_the_steps_fields() -> None:
    """Change a field of a step: every format shows the change, so none reads it back from another argv."""
    p = plan("qwen3-235b-a22b-int4", [*KUBE, "cluster.ray.head_ip=10.0.0.1"])
    steps = [dataclasses.replace(s, gpus=3) if isinstance(s, (RayHead, RayWorkers)) else
             dataclasses.replace(s, script="/opt/other/train.py") if isinstance(s, Job) else s for s in p.steps]
    q = dataclasses.replace(p, steps=steps)
    shell, sbatch = render(q, "shell"), render(q, "sbatch")
    assert "ray start --head --node-ip-address 10.0.0.1 --port 6379 --num-gpus 3" in shell
    assert "ray start --head --node-ip-address \"${head_ip}\" --port 6379 --num-gpus 3" in sbatch
    assert "ray start --address \"${head_addr}\":6379 --num-gpus 3" in sbatch
    for text in (shell, sbatch):
        assert "python3 /opt/other/train.py \\" in text
    entry = yaml.safe_load(render(q, "rayjob"))["spec"]["entrypoint"]
    assert shlex.split(entry)[:2] == ["python3", "/opt/other/train.py"]
    assert "python3 /opt/other/train.py '<train args>'" in " ".join(render(q, "text").split())  # wrapped lines


def test_a_value_that_looks_like_a_flag_stays_with_its_flag() -> None:
    p = plan("qwen3-4b-bf16", ["data.input_key=--colocate"])
    assert "  --input-key --colocate \\" in render(p, "shell").splitlines()
    from recipe_runner.diff import flags

    assert flags(p)["--input-key"] == "--colocate" and flags(p)["--colocate"] == ""


def test_no_module_parses_an_argv_our_code_built() -> None:
    """A source guard beside the behavioural tests: no split at `--`, no flag looked up in a step's argv."""
    banned = re.compile(r'index\(\s*"--"|"--"\s+in\b|==\s*"--"\s*[\]\)]|\.argv\.index\(|\.argv\[|'
                        r"conversion_from_argv|_dedupe|bare_flags")
    hits = [f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}"
            for path in sorted(PACKAGE.rglob("*.py"))
            for n, line in enumerate(path.read_text().splitlines(), 1)
            if banned.search(line.replace("sys.argv", ""))]
    assert hits == []


# ---- the launcher reads the Conversion's data -------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["fp8-rollout", "int4-rollout"])
def test_the_rendered_convert_command_and_the_launchers_skip_test_agree(tmp_path: Path, mode: str) -> None:
    """`recipe-runner convert` run from the step's argv writes what launch (reading the step's fields) accepts."""
    from recipe_runner.cli import main
    from recipe_runner.launch import already_converted, conversion
    from tests.quant.tiny_models import make_checkpoint

    src = make_checkpoint(tmp_path / "hf", "qwen3_moe", shards=1)
    p = build_plan(resolve("qwen3-30b-a3b-int4", [f"precision={mode}", f"checkpoints.hf={src}"]))  # no checks
    step, params = conversion(p)
    assert step is p.steps[0] and params.mode == step.kind
    assert not already_converted(p)
    assert main([*p.steps[0].argv[1:], "--quiet"]) == 0
    assert already_converted(p)
