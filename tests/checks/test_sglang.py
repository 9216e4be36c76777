"""The SGLang passthrough rule (checks/sglang.py), through `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipe_runner.checks.sglang import passthrough_flags_exist
from recipe_runner.resolve import resolve
from tests.checks.rule_cases import Case, assert_validate_reports, case_ids, fixed

CLI_CASES = [
    Case("sglang.unknown-flag", "error", "rollout.sglang.extra_args", "qwen3-4b-bf16",
         fixed("rollout.sglang.extra_args=[--sglang-tp-size,'2']")),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=case_ids(CLI_CASES))
def test_validate_reports(case: Case, tmp_path: Path) -> None:
    assert_validate_reports(case, tmp_path)


def test_an_unknown_flag_is_reported_as_silently_dropped() -> None:
    r = resolve("qwen3-4b-bf16", ["rollout.sglang.extra_args=[--sglang-no-such-flag]"])
    (finding,) = passthrough_flags_exist(r.recipe, r.shape)
    assert "silently drop" in finding.message and "reject" in finding.message
