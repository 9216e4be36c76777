"""Shell completion through bash's own completion machinery: the script registers a function with
`complete -F`, and the function fills COMPREPLY from COMP_WORDS / COMP_LINE / COMP_POINT as bash sets them."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recipe_runner.completion import SCRIPTS
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`recipe-runner` on PATH running this checkout."""
    d = tmp_path_factory.mktemp("bin")
    (d / "recipe-runner").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m recipe_runner.cli "$@"\n')
    (d / "recipe-runner").chmod(0o755)
    return d


def _bash_words(line: str) -> list[str]:
    """COMP_WORDS as bash's readline splits the line: at blanks and at COMP_WORDBREAKS' '=' and ':'."""
    return re.findall(r"[=:]|[^\s=:]+", line) + ([""] if line.endswith(" ") else [])


def complete(bin_dir: Path, line: str) -> list[str]:
    """What TAB gives after `line`: the line with each reply put in place of the current word."""
    words = _bash_words(line)
    script = (SCRIPTS["bash"] + f"COMP_LINE={shlex.quote(line)}; COMP_POINT=${{#COMP_LINE}}\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              "complete -p recipe-runner >&2\n"
              '"$(complete -p recipe-runner | sed -E "s/.*-F ([^ ]+) .*/\\1/")"\n'
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "-F _recipe_runner recipe-runner" in proc.stderr
    head = line[: len(line) - len(words[-1])]
    return [head + r for r in proc.stdout.splitlines() if r]


@pytest.mark.parametrize(("line", "want"), [
    ("recipe-runner pl", ["recipe-runner plan"]),
    ("recipe-runner plan qwen3-30b-a3b-int4-", ["recipe-runner plan qwen3-30b-a3b-int4-rollout"]),
    ("recipe-runner plan R precision=int4", ["recipe-runner plan R precision=int4-qat",
                                             "recipe-runner plan R precision=int4-rollout"]),
    ("recipe-runner plan R --format js", ["recipe-runner plan R --format json"]),
    ("recipe-runner validate R cluster.gpu=H2", ["recipe-runner validate R cluster.gpu=H20",
                                                 "recipe-runner validate R cluster.gpu=H200"]),
    ("recipe-runner plan R rollout.temp", ["recipe-runner plan R rollout.temperature="]),
    ("recipe-runner explain R rollout.sglang.mem", ["recipe-runner explain R rollout.sglang.mem_fraction_static"]),
    ("recipe-runner plan R --recipes", ["recipe-runner plan R --recipes-dir"]),
    ("recipe-runner completion z", ["recipe-runner completion zsh"]),
])
def test_bash_completes_commands_recipes_options_and_keys(bin_dir: Path, line: str, want: list[str]) -> None:
    assert complete(bin_dir, line) == want


def test_bash_completes_group_options_after_an_equals_sign(bin_dir: Path) -> None:
    got = complete(bin_dir, "recipe-runner plan qwen3-4b-bf16 cluster=")
    assert "recipe-runner plan qwen3-4b-bf16 cluster=local-cpu" in got and len(got) == 6
    assert complete(bin_dir, "recipe-runner plan ") and "recipe-runner plan --format" not in complete(
        bin_dir, "recipe-runner plan ")  # a recipe first


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_script_loads() -> None:
    proc = subprocess.run(["zsh", "-fc", SCRIPTS["zsh"] + "whence -w _recipe_runner"], capture_output=True, text=True)
    assert proc.returncode == 0 and "function" in proc.stdout, proc.stderr
