"""The first hour's stumbles (issue 14, items 4-9), each tripped the way a new user tripped on it."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.cli.runs import SWEEP_EPILOG
from recipe_runner.compose import GROUPS, group_options, list_recipes
from recipe_runner.models import load_config
from recipe_runner.render import render
from recipe_runner.resolve import resolve
from recipe_runner.sweep import sweep
from tests.conftest import ROOT


@pytest.mark.parametrize("example", re.findall(r"(precision\S*=\S+?)(?= |$)", SWEEP_EPILOG))
def test_sweep_help_examples_work(example: str) -> None:
    s = sweep("qwen3-30b-a3b-int4", [example])
    assert len(s.runs) == len(example.split("=", 1)[1].split(","))


def test_one_broken_recipe_does_not_hide_the_catalogue(tmp_path: Path, capsys) -> None:
    (tmp_path / "broken.yaml").write_text("defaults:\n  - qwen3-4b-bf16\n  - _self_\nname: [oops\n")
    (tmp_path / "mine.yaml").write_text("defaults:\n  - qwen3-4b-bf16\n  - _self_\nname: mine\n")
    assert main(["list", "--recipes-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    listed = [line.split()[0] for line in out.splitlines()[1:]]
    assert listed == sorted([*(n for n, _ in list_recipes()), "mine"])
    assert "recipe 'broken' left out" in err and re.search(rf"{tmp_path / 'broken.yaml'}:\d+: malformed YAML", err)


def test_text_plan_shows_env_once_and_short() -> None:
    text = render(plan("qwen3-4b-bf16", ["wandb.enabled=true", "wandb.project=p", f"launch.env.LONG={'x' * 200}"]),
                  "text")
    assert "--runtime-env-json '<job env below>'" in text and '{"env_vars"' not in text
    assert max(map(len, text.splitlines())) <= 140  # was one 3,077-character line
    assert re.search(r"\n  LONG +x{60} \.\.\. \(200 characters; see --format json\)\n", text)


def test_sbatch_does_not_warn_about_the_head_ip_slurm_gives_it(capsys) -> None:
    for fmt in ("sbatch",):  # (a multi-node RayJob now needs KubeRay settings of its own: issue 20)
        assert main(["plan", "qwen3-235b-a22b-int4", "--format", fmt]) == 0
        out, err = capsys.readouterr()
        assert "warning" not in err and "head_ip:" not in out and "cluster.ray.head_ip" not in out


@pytest.mark.parametrize(("argv", "needles"), [
    (["plan", "qwen3-4b-bf16", "cluster.nodes:2"], ["cluster.nodes:2: cannot parse this override",
                                                    "did you mean 'cluster.nodes=2'?"]),
    (["explain", "qwen3-4b-bf16", "rollout.temprature"], ["did you mean 'rollout.temperature'"]),
    (["convert", "fp8", "/nonexistent/ckpt", "/tmp/out"], ["/nonexistent/ckpt: does not exist"]),
    (["validate", "qwen3-4b-bf16", "--recipes-dir", "/nonexistent"], ["'/nonexistent' does not exist"]),
])
def test_small_errors_say_what_and_suggest(argv: list[str], needles: list[str], capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert all(n in err for n in needles), err


def test_gpu_names_ignore_case() -> None:
    assert resolve("qwen3-4b-bf16", ["cluster.gpu=h100"]).recipe.cluster.gpu == "H100"


def test_dry_run_says_which_checkpoints_are_not_here(capsys) -> None:
    assert main(["launch", "qwen3-4b-bf16", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "note: checkpoints.hf: not checked: /root/Qwen3-4B not found here" in err
    assert "note: checkpoints.ref_load: not checked" in err


@pytest.mark.parametrize("group", [g for g in GROUPS if g != "model"])  # models: a summary and `list --models`
def test_guide_group_table_lists_every_option(group: str) -> None:
    row = next(line for line in (ROOT / "docs" / "guide.md").read_text().splitlines()
               if line.startswith(f"| `{group}/` |"))
    assert set(group_options(group)) <= set(re.findall(r"`([\w.-]+)`", row.split("|")[2]))


def _first_hour() -> str:
    guide = (ROOT / "docs" / "guide.md").read_text()
    return guide[guide.index("## The first hour"):guide.index("## The pipeline")]


def test_guide_first_hour_runs_as_written(tmp_path: Path, monkeypatch, capsys) -> None:
    """Every `$ ...` command of the guide's first hour, in order, in an empty directory: exit 0 and the
    first output line shown (unless abridged) is what the command prints."""
    page = _first_hour()
    for name, body in re.findall(r"```(?:yaml|python)\n# (\S+\.(?:yaml|py))\n(.*?)```", page, flags=re.S):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(body)
    # Qwen/Qwen3-8B's config.json differs from Qwen3-4B's in these fields (shared/model-configs/SOURCES.md:
    # ai-dynamo/aiconfigurator@0b077da5 Qwen--Qwen3-8B_config.json)
    qwen3_8b = {**load_config("qwen3-4b"), "hidden_size": 4096, "intermediate_size": 12288,
                "tie_word_embeddings": False}
    (tmp_path / "Qwen3-8B").mkdir()
    (tmp_path / "Qwen3-8B" / "config.json").write_text(json.dumps(qwen3_8b))
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```console\n(.*?)```", page, flags=re.S)
    commands = [(m.group(1), m.group(2)) for b in blocks for m in re.finditer(r"^\$ (.+)\n([^$\n][^\n]*)?", b, re.M)]
    assert len(commands) >= 12
    for command, shown in commands:
        argv = shlex.split(command.split(" #")[0].split(" | ")[0])
        out_file = argv[argv.index(">") + 1] if ">" in argv else None
        argv = argv[:argv.index(">")] if out_file else argv
        if argv[0] == "python":
            subprocess.run([sys.executable, *argv[1:]], check=True, cwd=tmp_path)
            continue
        assert main(argv[1:]) == 0, command
        out = capsys.readouterr().out
        if out_file:
            Path(out_file).write_text(out)
        if shown and "…" not in shown:  # table column widths follow the catalogue: compare words
            assert " ".join(shown.split()) in " ".join(out.split()), (command, shown, out[:500])


FOREIGN_RUNS = """
import sys, wandb
for i in range(2):  # runs not made by recipe-runner: 31 config keys that differ
    run = wandb.init(project="p", mode="offline", dir=sys.argv[1], config={f"k{j}": j * (i + 1) for j in range(31)})
    for step in range(3):
        run.log({"loss": 1.0 / (step + 1 + i)})
    run.finish()
"""


def test_compare_of_foreign_runs_stays_narrow_and_refuses_unknown_metrics(tmp_path: Path, capsys) -> None:
    pytest.importorskip("wandb")
    subprocess.run([sys.executable, "-c", FOREIGN_RUNS, str(tmp_path)], check=True, capture_output=True,
                   env={**os.environ, "WANDB_SILENT": "true"})
    assert main(["compare", str(tmp_path / "wandb")]) == 0
    out, err = capsys.readouterr()
    header, *rows = out.splitlines()
    assert header.split()[:6] == ["run", "recipe", "mode", "group", "size", "layout"]
    assert len(header.split()) == 6 + 8 and "recipe_runner" not in header  # 8 differing config keys at most
    assert all(row.split()[0] for row in rows) and "22 more differing config key(s)" in err
    assert main(["compare", str(tmp_path / "wandb"), "--format", "csv"]) == 0
    assert len(capsys.readouterr().out.splitlines()[0].split(",")) == 1 + 4 + 30
    assert main(["compare", str(tmp_path / "wandb"), "--metric", "los"]) == 2
    assert "did you mean 'loss'?" in capsys.readouterr().err
