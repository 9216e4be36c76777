"""Semantic rules over a resolved recipe. Each rule is a small function yielding Findings.

A rule module exposes RULES: a tuple of functions `(recipe, shape) -> Iterable[Finding]`.
Errors stop `validate`/`plan` with exit 2; warnings are printed and the plan goes on.
"""

from __future__ import annotations

from recipe_runner.checks import checkpoint, companions, hf_args, layout_rules, memory, precision, sglang, shapes
from recipe_runner.checks.finding import Finding
from recipe_runner.resolve import Resolved

RULES = (*layout_rules.RULES, *precision.RULES, *shapes.RULES, *checkpoint.RULES, *hf_args.RULES, *companions.RULES,
         *memory.RULES, *sglang.RULES)


def run_checks(resolved: Resolved) -> list[Finding]:
    findings: list[Finding] = []
    for rule in RULES:
        findings.extend(rule(resolved.recipe, resolved.shape))
    return findings


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def warnings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "warning"]


__all__ = ["Finding", "RULES", "run_checks", "errors", "warnings"]
