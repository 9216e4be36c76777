"""Offline W&B runs made the way slime makes them, with the real wandb SDK and slime's metric names.

`log_run` reproduces slime's primary init (THUDM/slime@624b824a:slime/observability/wandb_utils.py):
project/group/name/mode/dir from the plan's --wandb-* flags (no random suffix: group = name), config =
the parsed train.py args, tags and notes from the job env's WANDB_* vars, then one `log` per step.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from recipe_runner.plan import Plan


def parse_args(argv: list[str]) -> dict[str, object]:
    """train.py argv -> an argparse-like namespace dict (what slime hands wandb as config)."""
    out: dict[str, object] = {}
    i = 0
    while i < len(argv):
        key = argv[i][2:].replace("-", "_")
        values = []
        i += 1
        while i < len(argv) and not argv[i].startswith("--"):
            values.append(argv[i])
            i += 1
        out[key] = True if not values else values[0] if len(values) == 1 else values
    return out


def log_run(plan: Plan, wandb_dir: Path, metrics: Mapping[str, list[tuple[int, float]]]) -> Path:
    """Log `metrics` (name -> [(step, value)]) as slime would; return the offline run directory."""
    import wandb

    args = parse_args(plan.train_args)
    saved = dict(os.environ)
    os.environ.update({k: v for k, v in plan.env.items() if k.startswith("WANDB_")})
    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(wandb_dir))
    try:
        run = wandb.init(project=args["wandb_project"], group=args["wandb_group"], name=args["wandb_group"],
                         config=args, dir=str(wandb_dir), settings=wandb.Settings(mode="offline"))
        for prefix, step_key in (("train", "train/step"), ("rollout", "rollout/step"), ("perf", "rollout/step"),
                                 ("eval", "eval/step")):
            run.define_metric(step_key)
            run.define_metric(f"{prefix}/*", step_metric=step_key)
        for name, points in metrics.items():
            step_key = {"train": "train/step", "eval": "eval/step"}.get(name.split("/")[0], "rollout/step")
            for step, value in points:
                run.log({name: value, step_key: step})
        run_dir = Path(run.dir).parent
        run.finish()
    finally:
        wandb.teardown()  # the SDK reads WANDB_* once per process setup; the next run has its own
        os.environ.clear()
        os.environ.update(saved)
    return run_dir
