"""Conformance: slime's own W&B logging (slime/observability/wandb_utils.py) on our plans, and the CI stand-in.

Runs only when RECIPE_RUNNER_SLIME points at a slime checkout (tested with THUDM/slime@624b824a). slime's full
`parse_args` needs Megatron-LM and SGLang, so the args are the namespace the stand-in builds from the plan's
argv: the same field names, slime's defaults for the W&B fields, and the `--custom-config-path` keys set on it as
slime's parse_args does. Everything else is slime's code: `init_wandb_primary` in a driver process and
`init_wandb_secondary` in two separate processes (rollout manager, actor) with the primary's run id, logging
slime's metrics under slime's step keys, with the real wandb SDK offline. Result: docs/tracking.md.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

TRACKING = Path(__file__).resolve().parent.parent / "tracking"
SLIME = os.environ.get("RECIPE_RUNNER_SLIME")
pytestmark = pytest.mark.skipif(not SLIME, reason="set RECIPE_RUNNER_SLIME to a slime checkout")

sys.path.insert(0, str(TRACKING))
from slime_standin import STANDIN  # noqa: E402
from sweep_data import MODES, run_sweep, sweep_overrides  # noqa: E402

from recipe_runner import compare  # noqa: E402
from recipe_runner.cli import main  # noqa: E402
from recipe_runner.sweep import Sweep, sweep  # noqa: E402

IGNORED_CONFIG = ("wandb_run_id",)  # set on args by the primary after its init: in the secondaries only


def _run(base: Path, impl: str, name: str) -> tuple[Sweep, Path]:
    """The sweep in BASE (the same paths, hence the same plans, for both), its runs moved to BASE/NAME after."""
    s = sweep("qwen3-30b-a3b-int4", sweep_overrides(base / "wandb"), sweep_name="conformance")
    run_sweep(s, base / "jobs", impl)
    shutil.rmtree(base / "jobs")
    return s, (base / "wandb").rename(base / name) / "wandb"


@pytest.fixture(scope="module")
def real_and_standin(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Sweep, Path]]:
    """{"real": ..., "standin": ...}: the same sweep logged by slime's module and by the stand-in."""
    wandb_utils = Path(SLIME) / "slime" / "observability" / "wandb_utils.py"
    assert wandb_utils.is_file(), f"{wandb_utils} missing: RECIPE_RUNNER_SLIME must be a slime checkout"
    base = tmp_path_factory.mktemp("conformance")
    return {name: _run(base, impl, name) for name, impl in (("real", str(wandb_utils)), ("standin", STANDIN))}


def _fields(wandb_dir: Path) -> list[tuple]:
    """What each process recorded, run ids left out: (name, group, tags, job type, config, metrics, rows)."""
    out = []
    for d in sorted(wandb_dir.glob("offline-run-*")):
        part = compare.read_part(d)
        config = {k: v for k, v in part.config.items() if not k.startswith("_") and k not in IGNORED_CONFIG}
        metrics = sorted({k for row in part.rows for k in row if not k.startswith("_")})
        out.append((part.meta["name"], part.meta["group"], part.meta["tags"], part.meta["job_type"],
                    json.dumps(config, sort_keys=True), tuple(metrics), len(part.rows)))
    return sorted(out)


def test_slime_logs_three_distinct_runs_with_mode_and_group_size(real_and_standin, capsys):
    s, wandb_dir = real_and_standin["real"]
    assert len(list(wandb_dir.glob("offline-run-*"))) == 3 * len(MODES)
    runs = compare.offline_runs([str(wandb_dir)])
    assert sorted(r.name for r in runs) == sorted(r.name for r in s.runs) and len({r.name for r in runs}) == 3
    for r in runs:
        assert r.group == r.name and r.job_type == r.convention["mode"]
        assert r.convention["group_size"] == (128 if r.convention["mode"] == "int4-qat" else None)
    for extra in ([], ["--sweep", s.id]):
        assert main(["compare", str(wandb_dir), *extra, "--format", "json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert len(rows) == 3 and all(v is not None for r in rows for k, v in r.items() if k != "group size")


def test_the_standin_records_what_slime_records(real_and_standin):
    (real_sweep, real_dir), (standin_sweep, standin_dir) = real_and_standin["real"], real_and_standin["standin"]
    assert [r.name for r in real_sweep.runs] == [r.name for r in standin_sweep.runs]
    assert _fields(real_dir) == _fields(standin_dir)
