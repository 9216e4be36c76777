"""Precision rules (checks/precision.py): each tripped by a shipped recipe plus overrides."""

from __future__ import annotations

import pytest

from tests.checks.rule_cases import assert_trips, trip_ids

# (rule id, severity, field path, recipe, overrides)
TRIPS = [
    ("precision.gpu", "error", "cluster.gpu", "qwen3-4b-fp8", ["cluster.gpu=A100"]),
    ("precision.gpu", "error", "cluster.gpu", "qwen3-4b-fp8", ["cluster.gpu=L40S"]),
    ("precision.fp8-param-gather-mode", "error", "precision.fp8_param_gather", "qwen3-4b-bf16",
     ["precision.fp8_param_gather=true"]),
    ("precision.fp8-param-gather-offload", "error", "precision.fp8_param_gather", "qwen3-30b-a3b-fp8",
     ["precision.fp8_param_gather=true"]),
    ("precision.qat-dense", "error", "precision.mode", "qwen3-4b-fp8", ["precision=int4-qat"]),
    ("precision.conversion-empty", "error", "precision.mode", "qwen3-4b-bf16", ["precision=int4-rollout"]),
    ("optimizer.precision-aware", "error", "optimizer.precision_aware", "qwen3-30b-a3b-int4",
     ["optimizer.precision_aware=false"]),
]


@pytest.mark.parametrize(("rule", "severity", "path", "recipe", "overrides"), TRIPS, ids=trip_ids(TRIPS))
def test_rule_trips(rule: str, severity: str, path: str, recipe: str, overrides: list[str]) -> None:
    assert_trips(rule, severity, path, recipe, overrides)
