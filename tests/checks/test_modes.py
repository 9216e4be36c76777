"""Mode predicates (checks/modes.py): a fix that names another mode names only modes that pass."""

from __future__ import annotations

import re

import pytest

from recipe_runner.checks import run_checks
from recipe_runner.resolve import resolve

MODE_RULES = {"precision.gpu", "precision.qat-dense", "precision.conversion-empty", "shapes.fp8-moe-intermediate"}


@pytest.mark.parametrize(("recipe", "overrides"), [
    ("qwen3-4b-bf16", ["precision=int4-rollout"]), ("qwen3-4b-bf16", ["precision=int4-qat", "cluster.gpu=L40S"]),
    ("qwen3-4b-fp8", ["cluster.gpu=A100"]),
    ("qwen3-30b-a3b-fp8", ["model.config_overrides.moe_intermediate_size=1000", "cluster.gpu=L40S"]),
])
def test_hints_suggest_only_modes_that_pass(recipe: str, overrides: list[str]) -> None:
    hints = [f.hint for f in run_checks(resolve(recipe, overrides)) if f.rule in MODE_RULES]
    suggested = {m for h in hints for m in re.findall(r"precision=(\S+?)(?: \(or ([^)]*)\))?(?:,|$)", h)[0] if m}
    modes = {m.strip() for s in suggested for m in s.split(",")}
    assert hints and modes
    for m in modes:
        findings = run_checks(resolve(recipe, [*overrides, f"precision={m}"]))
        refused = [f.line() for f in findings if f.rule in MODE_RULES]
        assert refused == [], (m, refused)
