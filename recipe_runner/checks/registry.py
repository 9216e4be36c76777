"""The registry of pre-flight rules: each rule id with its severity and upstream source, declared on the
function that reports it (`@rule(...)`), so the runner, the docs table and the tests all read one list.

A function may report several ids (stack one `@rule` per id). The runner runs every registered function
once and gives each finding its rule's source; a finding whose id or severity its function did not
declare is a bug in the rule, raised as such.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from recipe_runner.checks.finding import Finding
from recipe_runner.models import ModelShape
from recipe_runner.spec import Recipe

Severity = Literal["error", "warning", "note"]
Check = Callable[[Recipe, ModelShape], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str  # e.g. "layout.world-model-parallel"; users see it on the error's `rule:` line
    severities: tuple[Severity, ...]  # what its findings may be (companion.mode-env: error, or a warning)
    source: str  # the upstream rule it mirrors (repo@commit:path:lines), or the report it comes from
    check: Check

    @property
    def concern(self) -> str:
        """The checks module that holds it: `layout`, `checkpoint`, ..."""
        return self.check.__module__.rsplit(".", 1)[-1]


REGISTRY: dict[str, Rule] = {}


def rule(rule_id: str, severity: Severity | tuple[Severity, ...], source: str) -> Callable[[Check], Check]:
    """Register `rule_id`, reported by the decorated function."""
    severities = (severity,) if isinstance(severity, str) else tuple(severity)

    def register(check: Check) -> Check:
        if rule_id in REGISTRY:
            raise ValueError(f"rule {rule_id} is registered twice ({REGISTRY[rule_id].check.__qualname__}, "
                             f"{check.__qualname__})")
        REGISTRY[rule_id] = Rule(rule_id, severities, source, check)
        return check
    return register


def checks() -> tuple[Check, ...]:
    """Every registered function once, in the order they were defined."""
    return tuple(dict.fromkeys(r.check for r in REGISTRY.values()))


def run(check: Check, recipe: Recipe, shape: ModelShape) -> list[Finding]:
    """`check`'s findings, each with its rule's source unless the finding cites a more specific one."""
    out = []
    for f in check(recipe, shape):
        declared = REGISTRY.get(f.rule)
        if declared is None or declared.check is not check or f.severity not in declared.severities:
            raise RuntimeError(f"{check.__qualname__} reported {f.rule} ({f.severity}), which it does not declare "
                               "with @rule")
        out.append(f if f.source else replace(f, source=declared.source))
    return out
