"""Bundles under concurrency and failure: one writer wins, the other exits 2; nothing is ever half-written."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from recipe_runner.bundle import inside, publish
from recipe_runner.cli import main
from recipe_runner.errors import RunError, UserError
from tests.conftest import ROOT

BUNDLE_FILES = {"recipe.yaml", "plan.json", "launch.sh", "convert.sh", "sbatch.sh", "manifest.json"}  # + rayjob.yaml
# once KubeRay is configured


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_when_another_writer_finishes_first_the_later_one_gets_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "D"

    def fill(tmp: Path) -> None:
        (tmp / "a").write_text("later")
        publish(out, lambda t: (t / "a").write_text("first"))  # the other command renames its bundle into place

    with pytest.raises(UserError) as e:
        publish(out, fill)
    assert e.value.exit_code == 2 and "--out" in e.value.render()
    assert (out / "a").read_text() == "first" and leftovers(tmp_path) == []


@pytest.mark.parametrize("failure, error", [(KeyboardInterrupt(), KeyboardInterrupt),
                                            (OSError(errno.ENOSPC, "No space left on device"), RunError),
                                            (OSError(errno.EACCES, "Permission denied"), UserError)])
def test_a_failed_or_interrupted_write_leaves_nothing(tmp_path: Path, failure, error) -> None:
    def fill(tmp: Path) -> None:
        (tmp / "a").write_text("x")
        raise failure

    with pytest.raises(error):
        publish(tmp_path / "D", fill)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [["plan", "qwen3-4b-bf16"],
                                     ["sweep", "qwen3-4b-bf16", "precision=bf16,fp8-rollout"]])
def test_two_commands_writing_one_out_at_once(tmp_path: Path, command: list[str]) -> None:
    out = tmp_path / "D"
    args = [sys.executable, "-m", "recipe_runner.cli", *command, "--format", "json", "--out", str(out)]
    procs = [subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = sorted((p.wait(timeout=300), p.stderr.read()) for p in procs)
    assert [code for code, _ in results] == [0, 2], results
    assert "--out" in results[1][1] and "Traceback" not in results[1][1]
    bundles = [out] if command[0] == "plan" else list(out.iterdir())
    assert all(BUNDLE_FILES <= {f.name for f in b.iterdir()} for b in bundles)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["..", "../x", "/abs", "a/b", "", "."])
def test_bundle_paths_stay_inside_out(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError):
        inside(tmp_path, name)


def test_a_sweep_cannot_write_outside_out(tmp_path: Path, capsys) -> None:
    for name in ("../../x", "/tmp/x"):
        assert main(["sweep", "qwen3-4b-bf16", "precision=bf16,fp8-rollout", f"name={name}", "--out",
                     str(tmp_path / "D")]) == 2
        assert "name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
