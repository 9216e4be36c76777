"""explain names the setter of a value; diff shows config, flag, env and step differences."""

from __future__ import annotations

from recipe_runner.diff import diff
from recipe_runner.explain import explain
from tests.conftest import run_cli


def test_explain_names_recipe_group_override_and_default() -> None:
    assert "recipes/qwen3-30b-a3b-int4.yaml" in explain("qwen3-30b-a3b-int4", "rollout.temperature").setter
    assert "group option model=qwen3-30b-a3b" in explain("qwen3-30b-a3b-int4", "model.config").setter
    switched = explain("qwen3-4b-fp8-rollout", "precision.mode", ["precision=int4-rollout"])
    assert "precision=int4-rollout" in switched.setter
    assert "`rollout.temperature=0.5`" in explain("qwen3-30b-a3b-int4", "rollout.temperature",
                                                  ["rollout.temperature=0.5"]).setter
    assert "schema default" in explain("qwen3-30b-a3b-int4", "rollout.sglang.server_concurrency").setter


def test_explain_follows_a_parent_recipe() -> None:
    e = explain("qwen3-4b-fp8-rollout", "rollout.temperature")  # set in qwen3-4b-fp8, which it extends
    assert "recipe qwen3-4b-fp8 " in e.setter


def test_explain_unknown_key_exits_2() -> None:
    result = run_cli("explain", "qwen3-30b-a3b-int4", "rollout.temprature")
    assert result.code == 2 and "rollout.temprature" in result.err and "Traceback" not in result.err


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
