"""The sweep the tracking tests and the conformance harness run: its overrides, slime's metrics, how it runs."""

from __future__ import annotations

from pathlib import Path

from slime_standin import STANDIN, run_job, wait

from recipe_runner import run_config
from recipe_runner.sweep import Sweep

SECRET = "wandb-key-that-must-never-be-written-0123456789"
HF_SECRET = "hf-token-that-must-never-reach-wandb-9876543210"
MODES = ("bf16", "fp8-rollout", "int4-qat")
REWARDS = {"bf16": [0.20, 0.35, 0.50, 0.45], "fp8-rollout": [0.18, 0.30, 0.41, 0.44],
           "int4-qat": [0.19, 0.33, 0.47, 0.40]}
# the wandb SDK's own side work, off in the job env (it changes no init argument): faster on a busy CI machine
QUIET_SDK = {"WANDB_DISABLE_GIT": "true", "WANDB_DISABLE_CODE": "true", "WANDB_X_DISABLE_STATS": "true",
             "WANDB_X_DISABLE_META": "true", "WANDB_X_DISABLE_MACHINE_INFO": "true"}


def metrics_for(mode: str) -> dict[str, list[tuple[int, float]]]:
    """slime's metric names; the stand-in sends each to the process that logs it in slime."""
    rewards = REWARDS[mode]
    scale = {"bf16": 1.0, "fp8-rollout": 0.7, "int4-qat": 0.8}[mode]
    return {
        "rollout/raw_reward": list(enumerate(rewards)),
        "perf/rollout_time": [(i, 100.0 * scale + i) for i in range(len(rewards))],
        "passrate/pass@8": [(i, min(1.0, r + 0.3)) for i, r in enumerate(rewards)],
        "eval/aime": [(0, rewards[0] - 0.1), (2, rewards[2] - 0.1)],
        "eval/aime-truncated_ratio": [(0, 0.05), (2, 0.04)],
        "train/train_rollout_logprob_abs_diff": [(i, 0.01 / scale + 0.001 * i) for i in range(len(rewards))],
    }


def sweep_overrides(wandb_dir: Path) -> list[str]:
    return [f"precision={','.join(MODES)}", "wandb.project=lowprec", "wandb.mode=offline", f"wandb.dir={wandb_dir}"]


def run_sweep(s: Sweep, root: Path, impl: str = STANDIN) -> None:
    """Each run as `launch` runs it: the run config in the job's working dir, the plan's env, slime's processes."""
    procs = []
    for r in s.runs:
        workdir = root / r.name
        run_config.write(r.plan, workdir)
        procs.append(run_job(r.plan.train_args, {**QUIET_SDK, **r.plan.env}, workdir,
                             metrics_for(r.plan.mode), impl))
    wait(procs)
