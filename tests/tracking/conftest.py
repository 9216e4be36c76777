"""A three-mode sweep run once per session through the slime stand-in: three processes per job, real wandb SDK."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sweep_data import HF_SECRET, SECRET, run_sweep, sweep_overrides

from recipe_runner.sweep import Sweep, sweep


@dataclass(frozen=True)
class SweepRuns:
    sweep: Sweep
    wandb_dir: Path  # every process of every job logged here


@pytest.fixture(scope="session")
def sweep_runs(tmp_path_factory: pytest.TempPathFactory) -> SweepRuns:
    """The sweep, with secrets in the environment (and one inside a launch.env value) while planning and running."""
    root = tmp_path_factory.mktemp("sweep")
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_API_KEY", SECRET)
    mp.setenv("HF_TOKEN", HF_SECRET)
    try:
        s = sweep("qwen3-30b-a3b-int4", sweep_overrides(root / "wandb"))
        run_sweep(s, root)
    finally:
        mp.undo()
    return SweepRuns(s, root / "wandb" / "wandb")  # wandb.init(dir=D) writes D/wandb/
