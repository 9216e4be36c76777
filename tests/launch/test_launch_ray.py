"""launch against a real Ray head: the job gets exactly the plan's argv and env; pre-flight; exit codes."""

from __future__ import annotations

from pathlib import Path

from recipe_runner.api import plan
from recipe_runner.cli import main
from tests.launch.conftest import read_record, write_recipes
from tests.launch.standin_slime import write_standin


def test_job_receives_exactly_the_plans_train_args_and_env(tmp_path: Path, ray_address: str, capsys) -> None:
    recipes = write_recipes(tmp_path)
    assert main(["launch", "tiny-launch", "--recipes-dir", str(recipes), "--address", ray_address]) == 0
    p = plan("tiny-launch", [], str(recipes))
    got = read_record(tmp_path)
    assert got["argv"] == p.train_args
    assert {k: got["env"].get(k) for k in p.env} == p.env
    out = capsys.readouterr()
    assert "recorded" in out.out  # the job's logs were streamed
    assert "pre-flight: entrypoint ok" in out.out


def test_relaunch_of_a_finished_plan_gets_a_new_submission_id(tmp_path: Path, ray_address: str, capsys) -> None:
    recipes = write_recipes(tmp_path)
    args = ["launch", "tiny-launch", 'launch.env.RR_TEST_EXIT="3"', "--recipes-dir", str(recipes),
            "--address", ray_address]
    assert main(args) == 1  # the exit code follows the job's status
    assert main(args) == 1
    out = capsys.readouterr()
    sid = [ln.split()[2] for ln in out.out.splitlines() if ln.startswith("submit: job")]
    assert len(sid) == 2 and sid[1] == sid[0] + "-r2"
    assert "FAILED" in out.err


def test_missing_entrypoint_fails_preflight_with_exit_2(tmp_path: Path, ray_address: str, capsys) -> None:
    recipes = write_recipes(tmp_path)
    code = main(["launch", "tiny-launch", f"launch.entrypoint={tmp_path}/nope/train.py",
                 "--recipes-dir", str(recipes), "--address", ray_address])
    assert code == 2
    err = capsys.readouterr().err
    assert "pre-flight" in err and "nope/train.py does not exist" in err and "fix:" in err
    assert not (tmp_path / "record.json").exists()


def test_a_forwarded_secret_reaches_the_job_and_no_file_or_output(tmp_path: Path, ray_address: str, capsys,
                                                                   monkeypatch) -> None:
    sentinel = "sentinel-forwarded-5f1c2a9b"
    monkeypatch.setenv("RR_TEST_TOKEN", sentinel)
    recipes = write_recipes(tmp_path)
    bundle = tmp_path / "bundle"
    assert main(["launch", "tiny-launch", "+launch.forward_env=[RR_TEST_TOKEN]", "--recipes-dir", str(recipes),
                 "--address", ray_address, "--out", str(bundle)]) == 0
    assert read_record(tmp_path)["env"]["RR_TEST_TOKEN"] == sentinel  # Ray runtime env, at submit time
    out = capsys.readouterr()
    assert sentinel not in out.out + out.err
    assert [f.name for f in bundle.rglob("*") if f.is_file() and sentinel in f.read_text()] == []


def test_preflight_runs_slimes_parser_on_the_target_and_stops_a_rejected_plan(tmp_path: Path, ray_address: str,
                                                                              capsys) -> None:
    """The pre-flight job imports slime from launch.working_dir, as train.py would (a stand-in slime here)."""
    recipes = write_recipes(tmp_path)
    write_standin(tmp_path)
    code = main(["launch", "tiny-launch", "training.extra_args=[--bogus-flag]", "--recipes-dir", str(recipes),
                 "--address", ray_address])
    assert code == 2
    err = capsys.readouterr().err
    assert "pre-flight" in err and "no parser of slime consumes --bogus-flag" in err and "fix:" in err
    assert not (tmp_path / "record.json").exists()
