"""slime's start-up check as a rule (checks/hf_args.py), through `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checks.rule_cases import Case, assert_validate_reports, case_ids, fixed, hf

CLI_CASES = [
    Case("model.hf-validate", "error", "model.extra_args", "qwen3-4b-bf16",
         fixed("model.extra_args=[--rotary-base,'5000000']")),  # overrides the derived --rotary-base
    Case("model.hf-validate", "error", "model.config", "qwen3-4b-bf16",
         hf(None, "qwen3-4b", tie_word_embeddings=False)),  # the checkpoint's config differs from the recipe's
]


@pytest.mark.parametrize("case", CLI_CASES, ids=case_ids(CLI_CASES))
def test_validate_reports(case: Case, tmp_path: Path) -> None:
    assert_validate_reports(case, tmp_path)
