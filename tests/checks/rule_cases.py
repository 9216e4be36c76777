"""What the per-module rule tests share: a bad recipe checked in-process (`assert_trips`), and one run through the
real CLI (`Case`, `assert_validate_reports`: `validate` exits 2 with the path on the problem line and the rule id
on the next; warnings and notes print `severity: path:` and exit 0), with the fake checkpoints cases point at."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recipe_runner.checks import run_checks
from recipe_runner.resolve import resolve
from tests.checks.fake_checkpoints import KIMI_INT4, moe_names, write_checkpoint
from tests.conftest import run_cli

BF16_NAMES = moe_names(packed=False)


def assert_trips(rule: str, severity: str, path: str, recipe: str, overrides: list[str]) -> None:
    """`recipe` with `overrides` reports `rule`, only at `severity` on `path`, with a message and a fix."""
    findings = run_checks(resolve(recipe, overrides))
    hits = [f for f in findings if f.rule == rule]
    assert hits, [f.line() for f in findings]
    assert {(f.severity, f.path) for f in hits} == {(severity, path)}
    assert all(f.message and f.hint for f in hits)


def trip_ids(cases: list[tuple[str, str, str, str, list[str]]]) -> list[str]:
    return [f"{c[0]}:{' '.join(c[4])}" for c in cases]


@dataclass(frozen=True)
class Case:
    rule: str
    severity: str
    path: str
    recipe: str
    overrides: Callable[[Path], list[str]]


def int4(**changes: object) -> dict:
    weights = {**KIMI_INT4["config_groups"]["group_0"]["weights"], **changes.pop("weights", {})}
    return {**KIMI_INT4, "config_groups": {"group_0": {"targets": ["Linear"], "weights": weights}}, **changes}


def rollout(quant: dict | None, model: str = "qwen3-30b-a3b", names: list[str] | None = None,
            **cfg: object) -> Callable[[Path], list[str]]:
    return lambda tmp: [f"checkpoints.rollout={write_checkpoint(tmp / 'rollout', model, quant, names, **cfg)}"]


def hf(quant: dict | None, model: str, **cfg: object) -> Callable[[Path], list[str]]:
    return lambda tmp: [f"checkpoints.hf={write_checkpoint(tmp / 'hf', model, quant, **cfg)}"]


def fixed(*overrides: str) -> Callable[[Path], list[str]]:
    return lambda tmp: list(overrides)


def case_ids(cases: list[Case]) -> list[str]:
    return [f"{c.rule}:{i}" for i, c in enumerate(cases)]


def problems(stderr: str) -> set[tuple[str, str]]:
    """(field path, rule id) of every problem the CLI printed."""
    return set(re.findall(r"^  (\S+): .*\n    rule: (\S+)", stderr, flags=re.M))


def assert_validate_reports(case: Case, tmp_path: Path) -> None:
    overrides = case.overrides(tmp_path)
    hits = [f for f in run_checks(resolve(case.recipe, overrides)) if f.rule == case.rule]
    assert (case.severity, case.path) in {(f.severity, f.path) for f in hits}, hits
    result = run_cli("validate", case.recipe, *overrides)
    assert "Traceback" not in result.err
    if case.severity == "error":
        assert result.code == 2, result.err
        assert (case.path, case.rule) in problems(result.err), result.err
    else:
        assert result.code == 0, result.err
        assert f"{case.severity}: {case.path}: " in result.err
