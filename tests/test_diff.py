"""diff shows config, flag, env and step differences."""

from __future__ import annotations

from recipe_runner.diff import diff
from tests.conftest import run_cli


def test_diff_one_recipe_under_two_override_sets() -> None:
    d = diff("qwen3-30b-a3b-int4", "qwen3-30b-a3b-int4", [], ["precision.group_size=32"])
    got = {(c.section, c.key): (c.left, c.right) for c in d.changes}
    assert got[("config", "precision.group_size")] == (128, 32)
    assert got[("env", "OPEN_TRAINING_INT4_GROUP_SIZE")] == ("128", "32")
    assert ("step", "convert") in got and ("flag", "--hf-checkpoint") in got


def test_diff_cli_two_recipes() -> None:
    result = run_cli("diff", "qwen3-30b-a3b-fp8", "qwen3-30b-a3b-int4")
    assert result.code == 0, result.err
    assert "config precision.mode: fp8-full -> int4-qat" in result.out
    assert "flag   --fp8-format: e4m3 -> (absent)" in result.out
