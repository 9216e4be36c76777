"""Three offline runs of one sweep, made once per session with the real wandb SDK (slow to start)."""

from __future__ import annotations

from pathlib import Path

import pytest
from slime_runs import log_run

from recipe_runner.sweep import sweep

SECRET = "wandb-key-that-must-never-be-written-0123456789"
REWARDS = {"bf16": [0.20, 0.35, 0.50, 0.45], "fp8-rollout": [0.18, 0.30, 0.41, 0.44],
           "int4-qat": [0.19, 0.33, 0.47, 0.40]}


def metrics_for(mode: str) -> dict[str, list[tuple[int, float]]]:
    rewards = REWARDS[mode]
    scale = {"bf16": 1.0, "fp8-rollout": 0.7, "int4-qat": 0.8}[mode]
    return {
        "rollout/raw_reward": list(enumerate(rewards)),
        "perf/rollout_time": [(i, 100.0 * scale + i) for i in range(len(rewards))],
        "eval/aime": [(0, rewards[0] - 0.1), (2, rewards[2] - 0.1)],
        "eval/aime-truncated_ratio": [(0, 0.05), (2, 0.04)],
        "train/train_rollout_logprob_abs_diff": [(i, 0.01 / scale + 0.001 * i) for i in range(len(rewards))],
    }


@pytest.fixture(scope="session")
def sweep_runs(tmp_path_factory: pytest.TempPathFactory):
    """(Sweep, {mode: run dir}, wandb dir): a precision sweep logged offline with the key in the environment."""
    wandb_dir = tmp_path_factory.mktemp("wandb")
    s = sweep("qwen3-30b-a3b-int4", ["precision=bf16,fp8-rollout,int4-qat", "wandb.project=lowprec",
                                     "wandb.mode=offline"])
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_API_KEY", SECRET)
    try:
        dirs = {r.plan.mode: log_run(r.plan, wandb_dir, metrics_for(r.plan.mode)) for r in s.runs}
    finally:
        mp.undo()
    return s, dirs, Path(wandb_dir)
