"""Authoring helpers (issue 15): group listing, subtrees, strict validation, exit codes in every --help."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from recipe_runner.cli import EXIT_CODES, build_parser, main
from recipe_runner.compose import GROUPS, group_options
from recipe_runner.precision import MODES
from recipe_runner.resolve import resolve
from tests.checks.fake_checkpoints import write_checkpoint, write_torch_dist


def test_list_groups_shows_every_option_with_a_summary(capsys) -> None:
    assert main(["list", "--groups"]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [line.split()[0] for line in lines]
    assert listed == [f"{g}={o}" for g in GROUPS for o in group_options(g)]
    assert all(len(line.split(None, 1)) == 2 for line in lines)  # every option has a summary
    assert "precision=int4-qat" in listed and any(MODES["int4-qat"].summary in line for line in lines)


def test_show_one_subtree_with_overrides(capsys) -> None:
    assert main(["show", "qwen3-30b-a3b-int4", "cluster", "cluster.nodes=2"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["nodes"] == 2
    assert main(["show", "qwen3-30b-a3b-int4", "precision.mode"]) == 0
    assert capsys.readouterr().out == "int4-qat\n"
    assert main(["show", "qwen3-30b-a3b-int4", "rollout.temprature"]) == 2
    assert "did you mean 'rollout.temperature'" in capsys.readouterr().err


def test_validate_strict_refuses_warnings_and_absent_inputs(capsys, tmp_path: Path) -> None:
    assert main(["validate", "qwen3-30b-a3b-int4"]) == 0
    capsys.readouterr()
    assert main(["validate", "qwen3-30b-a3b-int4", "--strict"]) == 2
    err = capsys.readouterr().err
    assert "fails --strict" in err and "checkpoints.hf: not checked" in err
    assert "checkpoints.rollout" not in err and "checkpoints.torch_dist" not in err  # steps create them: not inputs
    here = [f"checkpoints.hf={write_checkpoint(tmp_path / 'hf', 'qwen3-4b', names=['lm_head.weight'])}",
            f"checkpoints.ref_load={write_torch_dist(tmp_path / 'dist')}"]
    assert main(["validate", "qwen3-4b-fp8-rollout", *here]) == 0
    capsys.readouterr()
    assert main(["validate", "qwen3-4b-fp8-rollout", "--strict", *here]) == 2
    err = capsys.readouterr().err
    assert "rule: companion.fp8-small-dense" in err and "not checked" not in err  # only the warning


def _parsers(p: argparse.ArgumentParser):
    yield p
    for action in p._subparsers._group_actions if p._subparsers else ():
        for sub in dict.fromkeys(action.choices.values()):
            yield from _parsers(sub)


@pytest.mark.parametrize("parser", list(_parsers(build_parser())), ids=lambda p: p.prog)
def test_every_help_ends_with_the_exit_codes(parser: argparse.ArgumentParser) -> None:
    assert " ".join(parser.format_help().split()).endswith(EXIT_CODES)


def test_new_writes_a_recipe_and_model_option_that_validate(tmp_path: Path, monkeypatch, capsys) -> None:
    ckpt = write_checkpoint(tmp_path / "Qwen3-8B", "qwen3-4b", hidden_size=4096, intermediate_size=12288)
    team = tmp_path / "team"
    argv = ["new", "my-qwen3-8b", "--from", "qwen3-4b-fp8-rollout", "--model-config", str(ckpt / "config.json"),
            "--recipes-dir", str(team), "algorithm=grpo-tis", "rollout.batch_size=64"]
    assert main(argv) == 0
    assert "wrote" in capsys.readouterr().out
    text = (team / "my-qwen3-8b.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=") and (team / "model" / "qwen3-8b.yaml").is_file()
    r = resolve("my-qwen3-8b", (), str(team)).recipe
    assert (r.model.name, r.checkpoints.hf, r.rollout.batch_size, r.algorithm.use_tis) == (
        "Qwen3-8B", str(ckpt), 64, True)
    assert main(["plan", "my-qwen3-8b", "--recipes-dir", str(team), "--format", "json"]) == 0
    capsys.readouterr()
    assert main(argv) == 2  # never overwrites
    assert "already exists" in capsys.readouterr().err


def test_new_writes_nothing_when_the_recipe_would_not_validate(tmp_path: Path, capsys) -> None:
    argv = ["new", "bad", "--from", "qwen3-4b-bf16", "--recipes-dir", str(tmp_path), "precision=int4-rollout"]
    assert main(argv) == 2
    assert "no tensor would be quantized" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
