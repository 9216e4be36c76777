"""Memory rules (checks/memory.py), through `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checks.rule_cases import Case, assert_validate_reports, case_ids, fixed

CLI_CASES = [
    Case("memory.train-states", "error", "parallel.expert", "qwen3-30b-a3b-int4-rollout",
         fixed("optimizer.cpu_offload=false", "parallel.expert=1")),
    Case("memory.train-total", "warning", "training.max_tokens_per_gpu", "qwen3-4b-bf16",
         fixed("training.max_tokens_per_gpu=262144")),
    Case("memory.rollout-weights", "error", "rollout.gpus_per_engine", "qwen3-30b-a3b-int4-rollout",
         fixed("precision=bf16", "cluster.gpu=L40S")),
    Case("memory.kv-batch", "warning", "rollout.sglang.mem_fraction_static", "qwen3-30b-a3b-int4",
         fixed("rollout.max_response_len=65536")),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=case_ids(CLI_CASES))
def test_validate_reports(case: Case, tmp_path: Path) -> None:
    assert_validate_reports(case, tmp_path)
