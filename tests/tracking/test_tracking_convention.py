"""The convention in the plan: slime's flags, the run config file and each way of running it, no secret anywhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from sweep_data import HF_SECRET, SECRET

from recipe_runner import run_config
from recipe_runner.api import plan
from recipe_runner.bundle import write_bundle
from recipe_runner.cli import main
from recipe_runner.render import render
from recipe_runner.tracking import RUN_CONFIG_DIR, RUN_CONFIG_FILE
from tests.launch.kube import KUBE

CONFIG_STUB = """#!/usr/bin/env bash
# records where it ran, its argv and the run config it would have read
{ pwd; printf '%s\\n' "$@"; } > "$RR_RECORD"
"""


def _config(p) -> dict:
    return yaml.safe_load(p.run_config)


def test_plan_carries_the_convention():
    p = plan("qwen3-30b-a3b-int4", ["wandb.project=lowprec"])
    name = f"qwen3-30b-a3b-int4-int4-qat-{p.fingerprint[:8]}"
    assert p.train_arg_groups["wandb"] == ["--use-wandb", "--wandb-project", "lowprec", "--wandb-group", name,
                                           "--disable-wandb-random-suffix", "--custom-config-path", RUN_CONFIG_FILE]
    assert p.env["WANDB_TAGS"] == "int4-qat,Qwen3-30B-A3B,1x8,g128"
    assert p.env["WANDB_JOB_TYPE"] == "int4-qat" and "WANDB_NOTES" not in p.env
    c = _config(p)["recipe_runner"]
    assert {k: c[k] for k in ("run_name", "recipe", "mode", "group_size", "layout", "model", "fingerprint", "sweep")} \
        == {"run_name": name, "recipe": "qwen3-30b-a3b-int4", "mode": "int4-qat", "group_size": 128, "layout": "1x8",
            "model": "Qwen3-30B-A3B", "fingerprint": p.fingerprint, "sweep": None}
    assert len(c["conversion_fingerprint"]) == 64 and c["resolved"]["precision"]["mode"] == "int4-qat"
    submit = p.step("submit").argv
    assert submit[submit.index("--working-dir") + 1] == RUN_CONFIG_DIR


def test_tags_follow_the_resolved_recipe():
    p = plan("qwen3-30b-a3b-int4", ["wandb.project=p", "cluster.nodes=2", "precision.group_size=64",
                                    "wandb.sweep=s1"])
    assert p.env["WANDB_TAGS"] == "int4-qat,Qwen3-30B-A3B,2x8,g64,sweep:s1"
    assert _config(p)["recipe_runner"]["layout"] == "2x8"


def test_mode_team_and_explicit_group_from_the_recipe():
    p = plan("qwen3-4b-bf16", ["wandb.project=p", "wandb.mode=offline", "wandb.team=lab", "wandb.group=g"])
    args = p.train_arg_groups["wandb"]
    assert args[args.index("--wandb-mode") + 1] == "offline"
    assert args[args.index("--wandb-team") + 1] == "lab"
    assert args[args.index("--wandb-group") + 1] == "g" and _config(p)["recipe_runner"]["run_name"] == "g"
    assert p.env["WANDB_TAGS"] == "bf16,Qwen3-4B,1x8"  # bf16 has no group size tag


@pytest.mark.parametrize("overrides", [[], ["wandb.project=p", "wandb.mode=disabled"]])
def test_no_tracking_without_a_project_or_when_disabled(overrides):
    p = plan("qwen3-4b-bf16", overrides)
    assert p.train_arg_groups["wandb"] == [] and p.run_config == ""
    assert not any(k.startswith("WANDB_") for k in p.env) and "--working-dir" not in p.step("submit").argv


def test_no_secret_in_any_w_and_b_field(monkeypatch, capsys):
    """Sentinels in the environment reach no W&B field; in a launch.env value or under a secret's name in
    launch.env they are refused before anything is planned (the secrets policy, secret_policy.refuse_secrets)."""
    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    monkeypatch.setenv("HF_TOKEN", HF_SECRET)
    p = plan("qwen3-4b-bf16", ["wandb.project=p", "+launch.env.RR_NOTE=plain", *KUBE])
    fields = p.run_config + p.env["WANDB_TAGS"] + p.env["WANDB_JOB_TYPE"] + " ".join(p.train_args)
    for secret in (SECRET, HF_SECRET):
        assert secret not in fields
    for fmt in ("json", "shell", "text", "sbatch", "rayjob"):
        assert SECRET not in render(p, fmt)
    assert "--wandb-key" not in p.train_args
    for override in (f"+launch.env.RR_NOTE=x-{HF_SECRET}", "+launch.env.MY_SERVICE_TOKEN=sentinel-token-value-42"):
        assert main(["plan", "qwen3-4b-bf16", "wandb.project=p", override]) == 2
        err = capsys.readouterr().err
        assert "launch.forward_env" in err and HF_SECRET not in err and "sentinel-token-value-42" not in err


def test_a_key_in_the_recipe_is_refused(capsys):
    assert main(["plan", "qwen3-4b-bf16", "wandb.project=p", "+launch.env.WANDB_API_KEY=abc"]) == 2
    err = capsys.readouterr().err
    assert "launch.env.WANDB_API_KEY" in err and "Traceback" not in err


def test_the_secrets_are_not_in_the_offline_run_files(sweep_runs):
    for f in sweep_runs.wandb_dir.parent.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert SECRET.encode() not in data and HF_SECRET.encode() not in data, f


def test_the_recipes_custom_config_is_merged(tmp_path, capsys):
    own = tmp_path / "custom.yaml"
    own.write_text("max_turns: 3\nreward_field: score\n")
    p = plan("qwen3-4b-bf16", ["wandb.project=p", f"training.extra_args=[--custom-config-path,{own}]"])
    assert p.train_args.count("--custom-config-path") == 1 and str(own) not in p.train_args
    config = _config(p)
    assert config["max_turns"] == 3 and config["reward_field"] == "score" and config["recipe_runner"]["mode"] == "bf16"
    off = plan("qwen3-4b-bf16", [f"training.extra_args=[--custom-config-path,{own}]"])  # W&B off: left alone
    assert str(own) in off.train_args and off.run_config == ""
    assert main(["plan", "qwen3-4b-bf16", "wandb.project=p",
                 f"training.extra_args=[--custom-config-path,{tmp_path / 'missing.yaml'}]"]) == 2
    err = capsys.readouterr().err
    assert "training.extra_args --custom-config-path" in err and "Traceback" not in err


def test_plan_json_is_still_one_object(capsys):
    assert main(["plan", "qwen3-4b-bf16", "wandb.project=p", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["env"]["WANDB_TAGS"] == "bf16,Qwen3-4B,1x8" and yaml.safe_load(out["run_config"])["recipe_runner"]


# ---- each way of running puts the file where train.py reads it ----------------------------------------------------

def _stub_path(tmp_path: Path, *names: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in names:
        (bin_dir / name).write_text(CONFIG_STUB)
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "RR_RECORD": str(tmp_path / "record")}


def test_shell_script_writes_the_run_config_beside_itself_and_uploads_it(tmp_path):
    p = plan("qwen3-4b-bf16", ["wandb.project=p", "cluster.ray.address=http://head:8265",
                               '+launch.env.RR_NOTE="it\'s $HOME `x`"'])
    script = tmp_path / "job" / "launch.sh"
    script.parent.mkdir()
    script.write_text(render(p, "shell"))
    subprocess.run(["bash", str(script)], check=True, cwd=tmp_path, env=_stub_path(tmp_path, "ray", "recipe-runner"))
    cwd, *argv = (tmp_path / "record").read_text().splitlines()
    assert cwd == str(script.parent) and argv[argv.index("--working-dir") + 1] == RUN_CONFIG_DIR
    assert (script.parent / run_config.BUNDLE_PATH).read_text() == p.run_config


def test_sbatch_writes_it_in_the_submit_dir(tmp_path):
    p = plan("qwen3-4b-bf16", ["wandb.project=p"])
    text = render(p, "sbatch")
    lines = run_config.script_lines(p, run_config.SLURM_SUBMIT_DIR)
    assert "\n".join(lines) in text and text.index(lines[-1]) < text.index("ray job submit --address")
    env = {**os.environ, "SLURM_SUBMIT_DIR": str(tmp_path)}
    subprocess.run(["bash", "-euc", "\n".join(lines)], check=True, env=env)
    assert (tmp_path / run_config.BUNDLE_PATH).read_text() == p.run_config


def test_rayjob_entrypoint_writes_it_on_the_head_and_starts_there(tmp_path):
    p = plan("qwen3-4b-bf16", ["wandb.project=p", *KUBE])  # KUBE: what a RayJob needs (storage, image, pod size)
    doc = yaml.safe_load(render(p, "rayjob"))
    env = _stub_path(tmp_path, "python3")
    subprocess.run(["sh", "-c", doc["spec"]["entrypoint"]], check=True, env=env)  # as the submitter pastes it
    cwd, *argv = (tmp_path / "record").read_text().splitlines()
    try:
        assert argv == p.step("submit").argv[-len(p.train_args) - 1:]  # train.py and its args
        assert (Path(cwd) / RUN_CONFIG_FILE).read_text() == p.run_config
    finally:
        shutil.rmtree(cwd, ignore_errors=True)


def test_bundle_holds_the_run_config_where_its_launch_sh_writes_it(tmp_path):
    from recipe_runner.api import check
    from recipe_runner.plan import build_plan

    resolved, findings = check("qwen3-4b-bf16", ["wandb.project=p"], None)
    p = build_plan(resolved, findings)
    out = write_bundle(resolved, p, tmp_path / "b", None)
    assert (out / run_config.BUNDLE_PATH).read_text() == p.run_config
