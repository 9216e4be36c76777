"""Make docs/tracking-compare.png and the sweep/compare output in docs/tracking.md from real offline W&B runs.

The runs are logged through the slime stand-in (tests/tracking/slime_standin.py): per job, a driver process
does slime's primary init and two separate processes (rollout manager, actor) attach to its run id and log
slime's metrics under slime's step keys, with the real wandb SDK offline. The metric values are illustrative,
not measurements. Run: python docs/make_tracking_example.py
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "tracking"))

from slime_standin import run_job, wait  # noqa: E402
from sweep_data import QUIET_SDK  # noqa: E402

from recipe_runner import run_config  # noqa: E402
from recipe_runner.cli import main as cli  # noqa: E402
from recipe_runner.sweep import sweep  # noqa: E402

SHAPE = {"bf16": (0.52, 1.00, 0.010), "fp8-rollout": (0.50, 0.72, 0.030), "int4-qat": (0.51, 0.80, 0.016)}
WANDB_DIR = "/tmp/recipe-runner-docs"  # fixed, so the run names (which cover wandb.dir) stay the same
OVERRIDES = ["precision=bf16,fp8-rollout,int4-qat", "wandb.project=lowprec", "wandb.mode=offline",
             f"wandb.dir={WANDB_DIR}"]


def metrics(mode: str, steps: int = 12) -> dict[str, list[tuple[int, float]]]:
    top, time_scale, diff = SHAPE[mode]
    return {
        "rollout/raw_reward": [(i, round(top - 0.3 * 0.75 ** i, 4)) for i in range(steps)],
        "perf/rollout_time": [(i, round(120 * time_scale + (i % 3), 2)) for i in range(steps)],
        "passrate/pass@8": [(i, round(min(1.0, top + 0.25 - 0.3 * 0.7 ** i), 4)) for i in range(steps)],
        "eval/aime": [(i, round(top - 0.25 - 0.2 * 0.8 ** i, 4)) for i in range(0, steps, 4)],
        "train/train_rollout_logprob_abs_diff": [(i, round(diff * (1 + 0.02 * i), 5)) for i in range(steps)],
    }


def command(argv: list[str]) -> str:
    """`$ recipe-runner ARGV` and what it prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(argv) == 0
    return f"$ recipe-runner {' '.join(argv)}\n{out.getvalue()}"


def main() -> None:
    os.chdir(ROOT)
    shutil.rmtree(WANDB_DIR, ignore_errors=True)  # this script's own directory: only this sweep's runs in it
    sys.stdout.write(command(["sweep", "qwen3-30b-a3b-int4", *OVERRIDES]) + "\n")
    s = sweep("qwen3-30b-a3b-int4", OVERRIDES)
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for r in s.runs:
            workdir = Path(tmp) / r.name
            run_config.write(r.plan, workdir)
            procs.append(run_job(r.plan.train_args, {**QUIET_SDK, **r.plan.env}, workdir, metrics(r.plan.mode)))
        wait(procs)
        runs_dir = f"{WANDB_DIR}/wandb"
        sys.stdout.write(f"$ ls {runs_dir} | wc -l\n{len(list(Path(runs_dir).glob('offline-run-*')))}\n\n")
        sys.stdout.write(command(["compare", runs_dir]) + "\n")
        sys.stdout.write(command(["compare", runs_dir, "--sweep", s.id, "--format", "markdown",
                                  "--plot", "docs/tracking-compare.png"]))


if __name__ == "__main__":
    main()
