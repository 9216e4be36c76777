"""Every shipped recipe, validated in one test: it resolves, passes every pre-flight rule with no error and only
the warnings listed here, and plans (the JSON contract) with only SGLang flags slime knows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipe_runner import api, prep_steps
from recipe_runner.checks import errors, run_checks, warnings
from recipe_runner.compose import list_recipes
from recipe_runner.render import render
from recipe_runner.resolve import resolve
from recipe_runner.sglang_flags import unknown_flags

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [name for name, _ in list_recipes()]
# The warnings a shipped recipe knowingly carries; anything else (or any error) fails its test.
KNOWN_WARNINGS = {
    "deepseek-r1-bf16": {"memory.kv-batch"},
    "kimi-k2-instruct-fp8-rollout": {"memory.kv-batch"},
    "kimi-k2-thinking-int4": {"memory.kv-batch"},
    "moonlight-16b-a3b-int4": {"memory.kv-batch"},
    "qwen3-4b-fp8": {"companion.fp8-small-dense"},  # upstream's own FP8 example model
    "qwen3-4b-fp8-rollout": {"companion.fp8-small-dense"},
}


def test_the_catalogue_is_the_recipes_directory() -> None:
    assert sorted(SHIPPED) == sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))
    assert set(KNOWN_WARNINGS) <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipe_validates_and_plans(name: str) -> None:
    findings = run_checks(resolve(name))
    assert [f.line() for f in errors(findings)] == []
    assert {f.rule for f in warnings(findings)} == KNOWN_WARNINGS.get(name, set()), [f.line() for f in findings]
    plan = json.loads(render(api.plan(name), "json"))
    assert plan["recipe"] == name
    assert plan["steps"][-1]["name"] == "submit"
    # the findings' warnings, then the preparation steps' own (torch-dist on one node for the largest models)
    assert plan["warnings"] == [f.line() for f in warnings(findings)] + prep_steps.warnings(resolve(name))
    assert unknown_flags(plan["train_args"]) == []
