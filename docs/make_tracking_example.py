"""Make docs/tracking-compare.png and the table in docs/tracking.md from real offline W&B runs.

The runs are written by the real wandb SDK the way slime writes them (tests/tracking/slime_runs.py);
the metric values are illustrative, not measurements. Run: python docs/make_tracking_example.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "tracking"))

from slime_runs import log_run  # noqa: E402

from recipe_runner import compare  # noqa: E402
from recipe_runner.sweep import sweep  # noqa: E402

SHAPE = {"bf16": (0.52, 1.00, 0.010), "fp8-rollout": (0.50, 0.72, 0.030), "int4-qat": (0.51, 0.80, 0.016)}


def metrics(mode: str, steps: int = 12) -> dict[str, list[tuple[int, float]]]:
    top, time_scale, diff = SHAPE[mode]
    return {
        "rollout/raw_reward": [(i, round(top - 0.3 * 0.75 ** i, 4)) for i in range(steps)],
        "perf/rollout_time": [(i, round(120 * time_scale + (i % 3), 2)) for i in range(steps)],
        "eval/aime": [(i, round(top - 0.25 - 0.2 * 0.8 ** i, 4)) for i in range(0, steps, 4)],
        "train/train_rollout_logprob_abs_diff": [(i, round(diff * (1 + 0.02 * i), 5)) for i in range(steps)],
    }


def main() -> None:
    s = sweep("qwen3-30b-a3b-int4", ["precision=bf16,fp8-rollout,int4-qat", "wandb.project=lowprec",
                                     "wandb.mode=offline"])
    with tempfile.TemporaryDirectory() as tmp:
        dirs = [str(log_run(r.plan, Path(tmp), metrics(r.plan.mode))) for r in s.runs]
        runs = compare.offline_runs(dirs)
        sys.stdout.write(compare.render(compare.table(runs), "markdown"))
        compare.plot(runs, ROOT / "docs" / "tracking-compare.png", size=(4.0, 3.0), dpi=80)


if __name__ == "__main__":
    main()
