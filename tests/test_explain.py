"""explain names the setter of a value."""

from __future__ import annotations

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
