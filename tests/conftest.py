"""Shared helpers: run the real CLI in a subprocess, so exit codes and stderr are what users see."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> CliResult:
    proc = subprocess.run([sys.executable, "-m", "recipe_runner.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(result: CliResult, *needles: str) -> None:
    """Exit 2, no traceback, every needle in stderr, and a one-screen message."""
    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    assert len(result.err.splitlines()) <= 40
    for n in needles:
        assert n in result.err, f"{n!r} not in:\n{result.err}"


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session", autouse=True)
def _compose_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory):
    """Tests (and the CLIs they start) use a private compose cache, never the user's ~/.cache."""
    import os

    old = os.environ.get("RECIPE_RUNNER_CACHE_DIR")
    os.environ["RECIPE_RUNNER_CACHE_DIR"] = str(tmp_path_factory.mktemp("compose-cache"))
    yield
    if old is None:
        os.environ.pop("RECIPE_RUNNER_CACHE_DIR", None)
    else:
        os.environ["RECIPE_RUNNER_CACHE_DIR"] = old
