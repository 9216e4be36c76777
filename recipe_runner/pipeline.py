"""The pure stages chained for one recipe: name + overrides -> Resolved -> Findings -> Plan.

Every user action that needs a checked recipe or its plan (plan, launch, bundle, sweep, new, diff)
starts here, below `api`, so none of them has to import the front door.
"""

from __future__ import annotations

from recipe_runner.checks import Finding, errors, run_checks
from recipe_runner.errors import UserError
from recipe_runner.plan import Plan, build_plan
from recipe_runner.resolve import Resolved, resolve


def check(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None
          ) -> tuple[Resolved, list[Finding]]:
    """Resolve and run every rule; raise UserError listing the errors, return the warnings."""
    resolved = resolve(name, overrides, recipes_dir)
    findings = run_checks(resolved)
    bad = errors(findings)
    if bad:
        raise UserError(f"recipe {name!r} fails {len(bad)} check{'s' if len(bad) > 1 else ''}",
                        [f.problem() for f in bad])
    return resolved, findings


def plan(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None) -> Plan:
    """The checked recipe's plan (errors raise; warnings ride on Plan.warnings)."""
    return checked_plan(name, overrides, recipes_dir)[1]


def checked_plan(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None
                 ) -> tuple[Resolved, Plan, list[Finding]]:
    resolved, findings = check(name, overrides, recipes_dir)
    return resolved, build_plan(resolved, findings), findings
