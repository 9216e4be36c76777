"""Sweeps expand with Hydra's parser into one plan per combination: distinct W&B runs sharing a sweep id."""

from __future__ import annotations

import json

from sweep_data import sweep_overrides

from recipe_runner.cli import main
from recipe_runner.sweep import expand, sweep


def test_expand_is_the_cartesian_product():
    combos = expand(["precision=bf16,fp8-rollout", "cluster.nodes=1", "rollout.batch_size=range(16,33,16)"])
    assert combos == [
        ("precision=bf16", "cluster.nodes=1", "rollout.batch_size=16"),
        ("precision=bf16", "cluster.nodes=1", "rollout.batch_size=32"),
        ("precision=fp8-rollout", "cluster.nodes=1", "rollout.batch_size=16"),
        ("precision=fp8-rollout", "cluster.nodes=1", "rollout.batch_size=32"),
    ]


def test_sweep_runs_are_distinct_runs_sharing_a_sweep_id(sweep_runs):
    s = sweep_runs.sweep
    assert [r.plan.mode for r in s.runs] == ["bf16", "fp8-rollout", "int4-qat"]
    names = [r.name for r in s.runs]
    assert len(set(names)) == 3
    for r in s.runs:
        args = r.plan.train_arg_groups["wandb"]
        name = f"qwen3-30b-a3b-int4-{r.plan.mode}-{r.plan.fingerprint[:8]}"
        assert args[args.index("--wandb-group") + 1] == r.name == name
        assert r.plan.env["WANDB_TAGS"].endswith(f",sweep:{s.id}") and r.plan.env["WANDB_JOB_TYPE"] == r.plan.mode
        assert f"wandb.sweep={s.id}" in r.resolved.overrides
    assert sweep("qwen3-30b-a3b-int4", sweep_overrides(sweep_runs.wandb_dir.parent)).id == s.id  # deterministic


def test_sweep_cli(capsys):
    assert main(["sweep", "qwen3-4b-bf16", "precision=bf16,fp8-rollout", "--id", "s1", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sweep"] == "s1" and [r["plan"]["mode"] for r in out["runs"]] == ["bf16", "fp8-rollout"]
    assert main(["sweep", "qwen3-4b-bf16", "precision=bf16,nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_a_shared_group_is_refused(capsys):
    assert main(["sweep", "qwen3-4b-bf16", "precision=bf16,fp8-rollout", "wandb.project=p", "wandb.group=g"]) == 2
    err = capsys.readouterr().err
    assert "share the W&B group g" in err and "Traceback" not in err
