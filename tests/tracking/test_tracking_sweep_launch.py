"""`sweep --launch` against a real local Ray head (CPU only, one per module), and `sweep --out` bundles.

The job records its argv, its working directory and the run config file train.py would read there: Ray's
runtime env `working_dir` must have put it in place before the job started."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipe_runner.cli import main
from recipe_runner.sweep import sweep

pytest.importorskip("ray.job_submission")

from tests.launch.conftest import ray_address, write_recipes  # noqa: E402, F401 - ray_address is a fixture

SWEEP = "tiny-sweep"
# records what slime's parse_args would see: argv, and the --custom-config-path file relative to the job's cwd
ENTRYPOINT = """\
import json, os, sys
argv = sys.argv[1:]
path = argv[argv.index("--custom-config-path") + 1]
out = {"argv": argv, "cwd": os.getcwd(), "run_config": open(path).read()}
with open(os.environ["RR_TEST_OUT"], "w") as f:
    json.dump(out, f)
print("recorded", len(argv), "args")
sys.exit(int(os.environ.get("RR_TEST_EXIT", "0")))
"""


def overrides(root: Path) -> list[str]:
    """Two combinations; each job records its argv to its own file."""
    return [f"launch.env.RR_TEST_OUT={root}/a.json,{root}/b.json", "wandb.project=sweep-test", "wandb.mode=offline"]


def sweep_args(root: Path, recipes: Path, *extra: str) -> list[str]:
    return ["sweep", "tiny-launch", *overrides(root), *extra, "--id", SWEEP, "--recipes-dir", str(recipes)]


def write_sweep_recipes(root: Path) -> Path:
    recipes = write_recipes(root)
    (root / "entry.py").write_text(ENTRYPOINT)
    return recipes


def assert_jobs_ran_the_sweep(root: Path, recipes: Path) -> None:
    s = sweep("tiny-launch", overrides(root), str(recipes), SWEEP)
    for name, run in zip(("a", "b"), s.runs, strict=True):
        record = json.loads((root / f"{name}.json").read_text())
        assert record["argv"] == run.plan.train_args
        assert record["run_config"] == run.plan.run_config  # in the job's working dir, uploaded by Ray
        assert f"sweep: {SWEEP}" in record["run_config"] and Path(record["cwd"]) != root


def test_launch_in_sequence(tmp_path: Path, ray_address: str, capsys) -> None:  # noqa: F811
    recipes = write_sweep_recipes(tmp_path)
    assert main([*sweep_args(tmp_path, recipes), "--launch", "--address", ray_address]) == 0
    out = capsys.readouterr().out
    assert "run 1/2" in out and "run 2/2" in out and out.count("recorded") == 2  # both followed to the end
    assert_jobs_ran_the_sweep(tmp_path, recipes)


def test_launch_parallel_prints_submission_ids(tmp_path: Path, ray_address: str, capsys) -> None:  # noqa: F811
    from ray.job_submission import JobSubmissionClient

    from recipe_runner.launch import wait_terminal

    recipes = write_sweep_recipes(tmp_path)
    assert main([*sweep_args(tmp_path, recipes), "--launch", "--parallel", "--address", ray_address]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = next(i for i, ln in enumerate(lines) if "2 jobs submitted" in ln)
    sids = lines[head + 1:head + 3]
    client = JobSubmissionClient(ray_address)
    for sid in sids:
        assert str(wait_terminal(client, sid)) == "SUCCEEDED"
        assert client.get_job_info(sid).runtime_env["env_vars"]["WANDB_TAGS"].endswith(f"sweep:{SWEEP}")
    assert_jobs_ran_the_sweep(tmp_path, recipes)


def test_stop_at_first_failure(tmp_path: Path, ray_address: str, capsys) -> None:  # noqa: F811
    recipes = write_sweep_recipes(tmp_path)
    assert main([*sweep_args(tmp_path, recipes, 'launch.env.RR_TEST_EXIT="3"'), "--launch",
                 "--address", ray_address]) == 1
    captured = capsys.readouterr()
    assert "run 2/2" not in captured.out and "1 not launched" in captured.err
    assert (tmp_path / "a.json").exists() and not (tmp_path / "b.json").exists()


def test_dry_run_changes_nothing(tmp_path: Path, capsys) -> None:
    recipes = write_sweep_recipes(tmp_path)
    assert main([*sweep_args(tmp_path, recipes), "--launch", "--dry-run", "--address", "http://127.0.0.1:1"]) == 0
    out = capsys.readouterr().out
    assert out.count("(dry run: nothing is converted, started or submitted)") == 2
    assert out.count(f"sweep:{SWEEP}") == 3 and out.count("working_dir: a temp dir holding") == 2  # header + 2 runs
    assert not list(tmp_path.glob("*.json"))


def test_launch_options_need_launch(capsys) -> None:
    assert main(["sweep", "qwen3-4b-bf16", "precision=bf16,fp8-rollout", "--parallel"]) == 2
    assert "--parallel" in capsys.readouterr().err


def test_out_writes_one_bundle_per_run_that_reruns_to_the_same_plan(tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    args = ["sweep", "qwen3-30b-a3b-int4", "precision=bf16,int4-qat", "wandb.project=lowprec", "--format", "json",
            "--out", str(out)]
    assert main(args) == 0
    s = json.loads(capsys.readouterr().out)
    bundles = sorted(out.iterdir())
    assert len(bundles) == 2 and not [b for b in bundles if b.name.startswith(".")]
    plans = {b.name: json.loads((b / "plan.json").read_text()) for b in bundles}
    assert sorted(p["fingerprint"] for p in plans.values()) == sorted(r["plan"]["fingerprint"] for r in s["runs"])
    bundle = bundles[0]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert f"wandb.sweep={s['sweep']}" in manifest["overrides"]
    assert (bundle / "recipe-runner-run-config" / "recipe-runner-run-config.yaml").read_text() == \
        plans[bundle.name]["run_config"]
    assert main(["plan", "recipe", "--recipes-dir", str(bundle), "--format", "json"]) == 0
    rerun = json.loads(capsys.readouterr().out)
    assert rerun == plans[bundle.name]
    assert rerun["env"]["WANDB_TAGS"].endswith(f"sweep:{s['sweep']}")
    assert main(args) == 2  # never over an earlier sweep's bundles
    assert "not an empty directory" in capsys.readouterr().err
