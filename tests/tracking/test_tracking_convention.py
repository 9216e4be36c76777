"""The convention in the plan: slime's flags, W&B env vars, the config in the notes, no key anywhere."""

from __future__ import annotations

import json

import pytest
from conftest import SECRET

from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.render import render
from recipe_runner.tracking import config_from_notes


def test_plan_carries_the_convention():
    p = plan("qwen3-30b-a3b-int4", ["wandb.project=lowprec"])
    assert p.train_arg_groups["wandb"] == ["--use-wandb", "--wandb-project", "lowprec", "--wandb-group",
                                           "qwen3-30b-a3b-int4", "--disable-wandb-random-suffix"]
    assert p.env["WANDB_TAGS"] == "int4-qat,Qwen3-30B-A3B,h200-1x8,g128"
    config = config_from_notes(p.env["WANDB_NOTES"])
    assert config["run_name"] == f"qwen3-30b-a3b-int4-int4-qat-{p.fingerprint[:8]}"
    assert p.env["WANDB_NOTES"].splitlines()[0] == config["run_name"]
    assert config["fingerprint"] == p.fingerprint
    assert config["env"]["OPEN_TRAINING_INT4_GROUP_SIZE"] == "128"
    assert config["resolved"]["precision"]["mode"] == "int4-qat"
    assert len(config["conversion_fingerprint"]) == 64


def test_mode_and_team_from_the_recipe():
    p = plan("qwen3-4b-bf16", ["wandb.project=p", "wandb.mode=offline", "wandb.team=lab", "wandb.group=g"])
    args = p.train_arg_groups["wandb"]
    assert args[args.index("--wandb-mode") + 1] == "offline"
    assert args[args.index("--wandb-team") + 1] == "lab"
    assert args[args.index("--wandb-group") + 1] == "g"
    assert "g" not in p.env["WANDB_TAGS"].split(",")  # bf16 has no group size tag


@pytest.mark.parametrize("overrides", [[], ["wandb.project=p", "wandb.mode=disabled"]])
def test_no_tracking_without_a_project_or_when_disabled(overrides):
    p = plan("qwen3-4b-bf16", overrides)
    assert p.train_arg_groups["wandb"] == []
    assert not any(k.startswith("WANDB_") for k in p.env)


def test_the_key_never_reaches_a_plan(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    p = plan("qwen3-4b-bf16", ["wandb.project=p"])
    for fmt in ("json", "shell", "text"):
        assert SECRET not in render(p, fmt)
    assert "--wandb-key" not in p.train_args


def test_a_key_in_the_recipe_is_refused(capsys):
    assert main(["plan", "qwen3-4b-bf16", "wandb.project=p", "+launch.env.WANDB_API_KEY=abc"]) == 2
    err = capsys.readouterr().err
    assert "launch.env.WANDB_API_KEY" in err and "Traceback" not in err


def test_the_key_is_not_in_the_offline_run_files(sweep_runs):
    _, _, wandb_dir = sweep_runs
    for f in wandb_dir.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_plan_json_is_still_one_object(capsys):
    assert main(["plan", "qwen3-4b-bf16", "wandb.project=p", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["env"]["WANDB_TAGS"] == "bf16,Qwen3-4B,h200-1x8"
