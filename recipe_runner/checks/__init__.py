"""Semantic rules over a resolved recipe: the rule registry (`registry.REGISTRY`), filled by `@rule` in one
module per concern, and the runner that enumerates it.

Errors stop `validate`/`plan` with exit 2; warnings are printed and the plan goes on.
"""

from __future__ import annotations

from functools import cache

from recipe_runner.checks import checkpoint, companions, hf_args, layout_rules, memory, precision, sglang, shapes
from recipe_runner.checks.finding import Finding
from recipe_runner.checks.registry import REGISTRY, Check, Rule, run
from recipe_runner.models import ModelShape
from recipe_runner.resolve import Resolved
from recipe_runner.spec import Recipe

# The order rules run and findings are reported in: the layout first, the checkpoints' files after the shapes.
CONCERNS = (layout_rules, precision, shapes, checkpoint, hf_args, companions, memory, sglang)


def rules() -> tuple[Rule, ...]:
    """Every registered rule, in concern order, then in the order its module declares it."""
    rank = {m.__name__: i for i, m in enumerate(CONCERNS)}
    by_check: dict[Check, list[Rule]] = {}
    for r in REGISTRY.values():
        by_check.setdefault(r.check, []).append(r)
    ordered = sorted(by_check.items(), key=lambda item: rank[item[0].__module__])
    return tuple(r for _, stacked in ordered for r in reversed(stacked))  # stacked @rule lines register bottom-up


@cache
def rule_checks(skip: tuple[str, ...] = ()) -> tuple[Check, ...]:
    """Each rule function once, in concern order; `skip` names concerns to leave out (e.g. "checkpoint")."""
    return tuple(dict.fromkeys(r.check for r in rules() if r.concern not in skip))


def run_rules(recipe: Recipe, shape: ModelShape, skip: tuple[str, ...] = ()) -> list[Finding]:
    return [f for check in rule_checks(skip) for f in run(check, recipe, shape)]


def run_checks(resolved: Resolved) -> list[Finding]:
    return run_rules(resolved.recipe, resolved.shape)


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def warnings(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "warning"]


__all__ = ["CONCERNS", "Finding", "REGISTRY", "Rule", "errors", "rule_checks", "rules", "run_checks", "run_rules",
           "warnings"]
