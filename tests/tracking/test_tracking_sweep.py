"""Sweeps expand with Hydra's parser into one plan per combination, all in one W&B group."""

from __future__ import annotations

import json

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


def test_sweep_plans_share_one_group(sweep_runs):
    s, _, _ = sweep_runs
    assert [r.plan.mode for r in s.runs] == ["bf16", "fp8-rollout", "int4-qat"]
    for r in s.runs:
        args = r.plan.train_arg_groups["wandb"]
        assert args[args.index("--wandb-group") + 1] == s.group
    assert s.group == sweep("qwen3-30b-a3b-int4", ["precision=bf16,fp8-rollout,int4-qat", "wandb.project=lowprec",
                                                   "wandb.mode=offline"]).group  # deterministic


def test_sweep_cli(capsys):
    assert main(["sweep", "qwen3-4b-bf16", "precision=bf16,fp8-rollout", "--group", "g1", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["group"] == "g1" and [r["plan"]["mode"] for r in out["runs"]] == ["bf16", "fp8-rollout"]
    assert main(["sweep", "qwen3-4b-bf16", "precision=bf16,nope"]) == 2
    assert "nope" in capsys.readouterr().err
