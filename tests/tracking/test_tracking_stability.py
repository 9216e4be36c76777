"""compare --baseline on runs logged through slime's process model (the stand-in): known stable and diverging curves."""

from __future__ import annotations

import pytest
from slime_standin import run_job, wait
from sweep_data import QUIET_SDK

from recipe_runner import cli, compare, run_config
from recipe_runner.sweep import sweep

STEPS = 16
CURVES = {  # mode -> (reward at step s, train-rollout log-prob difference at step s)
    "bf16": (lambda s: 0.2 + 0.02 * s, lambda s: 0.010),
    "fp8-rollout": (lambda s: 0.2 + 0.02 * s - 0.01, lambda s: 0.011),  # tracks the baseline: stable
    "int4-qat": (lambda s: 0.2 + 0.02 * min(s, 6) - 0.03 * max(0, s - 6), lambda s: 0.01 * 1.15 ** s),  # diverges
}


@pytest.fixture(scope="module")
def wandb_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("stability")
    s = sweep("qwen3-30b-a3b-int4", [f"precision={','.join(CURVES)}", "wandb.project=stab", "wandb.mode=offline",
                                     f"wandb.dir={root / 'wandb'}", "tracking.stability.window=8"])
    procs = []
    for r in s.runs:
        reward, mismatch = CURVES[r.plan.mode]
        metrics = {"rollout/raw_reward": [(i, reward(i)) for i in range(STEPS)],
                   "train/train_rollout_logprob_abs_diff": [(i, mismatch(i)) for i in range(STEPS)]}
        workdir = root / r.name
        run_config.write(r.plan, workdir)
        procs.append(run_job(r.plan.train_args, {**QUIET_SDK, **r.plan.env}, workdir, metrics))
    wait(procs)
    return root / "wandb" / "wandb"


def test_verdicts_against_the_baseline(wandb_dir):
    runs = compare.offline_runs([str(wandb_dir)])
    base = compare.baseline_run(runs, "bf16")
    t = compare.with_stability(compare.table(runs), runs, base)
    verdict = {row[t.columns.index("mode")]: row[t.columns.index("verdict")] for row in t.rows}
    assert verdict == {"bf16": "baseline", "fp8-rollout": "stable", "int4-qat": "diverging"}
    gap = {row[t.columns.index("mode")]: row[t.columns.index("gap vs baseline")] for row in t.rows}
    assert gap["fp8-rollout"] == pytest.approx(0.01) and gap["int4-qat"] > 0.05


def test_thresholds_come_from_the_runs_recipe(wandb_dir):
    runs = compare.offline_runs([str(wandb_dir)])
    assert {compare.thresholds(r).window for r in runs} == {8}


def test_cli_baseline_plot_and_bad_baseline(wandb_dir, tmp_path, capsys):
    out = tmp_path / "stab.png"
    assert cli.main(["compare", str(wandb_dir), "--baseline", "bf16", "--plot", str(out)]) == 0
    text = capsys.readouterr().out
    assert "diverging" in text and "stable" in text and out.stat().st_size > 0
    assert cli.main(["compare", str(wandb_dir), "--baseline", "fp4"]) == 2
    assert "no run is 'fp4'" in capsys.readouterr().err
