"""Shape rules (checks/shapes.py): each tripped in-process, and through `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checks.rule_cases import Case, assert_trips, assert_validate_reports, case_ids, fixed, trip_ids

# (rule id, severity, field path, recipe, overrides)
TRIPS = [
    ("shapes.fp8-block", "error", "rollout.gpus_per_engine", "qwen3-30b-a3b-fp8",
     ["rollout.sglang.expert_parallel_size=null"]),
    ("shapes.fp8-block", "error", "rollout.gpus_per_engine", "qwen3-4b-fp8", ["rollout.gpus_per_engine=8"]),
    ("shapes.int4-group", "error", "precision.group_size", "moonlight-16b-a3b-int4",
     ["rollout.sglang.expert_parallel_size=null"]),
    ("shapes.int4-group-train", "error", "parallel.expert_tensor", "qwen3-30b-a3b-int4",
     ["parallel.expert=2", "parallel.expert_tensor=4"]),
]


@pytest.mark.parametrize(("rule", "severity", "path", "recipe", "overrides"), TRIPS, ids=trip_ids(TRIPS))
def test_rule_trips(rule: str, severity: str, path: str, recipe: str, overrides: list[str]) -> None:
    assert_trips(rule, severity, path, recipe, overrides)


CLI_CASES = [
    Case("shapes.fp8-moe-intermediate", "error", "precision.mode", "qwen3-30b-a3b-fp8",
         fixed("model.config_overrides.moe_intermediate_size=1000")),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=case_ids(CLI_CASES))
def test_validate_reports(case: Case, tmp_path: Path) -> None:
    assert_validate_reports(case, tmp_path)
