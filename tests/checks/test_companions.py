"""Companion settings and hardware needs (checks/companions.py), through `validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.checks.rule_cases import Case, assert_validate_reports, case_ids, fixed, int4, rollout

CLI_CASES = [
    Case("hardware.stack", "note", "precision.mode", "qwen3-30b-a3b-int4", fixed()),
    Case("hardware.caution", "warning", "cluster.gpu", "qwen3-4b-fp8", fixed("cluster.gpu=B200")),
    Case("companion.fp8-small-dense", "warning", "algorithm.use_tis", "qwen3-4b-fp8-rollout", fixed()),
    Case("companion.colocate-mem-fraction", "warning", "rollout.sglang.mem_fraction_static", "qwen3-30b-a3b-int4",
         fixed("rollout.sglang.mem_fraction_static=0.9")),
    Case("companion.int4-asymmetric", "warning", "checkpoints.rollout", "qwen3-30b-a3b-int4",
         rollout(int4(weights={"symmetric": False}))),
    Case("companion.delta-colocate", "error", "training.extra_args", "qwen3-4b-bf16",
         fixed("training.extra_args=[--update-weight-mode,delta]")),
    Case("companion.offload-extra-args", "error", "training.extra_args", "qwen3-4b-bf16",
         fixed("training.extra_args=[--optimizer-cpu-offload]")),
    Case("companion.mode-env", "error", "launch.env.NVTE_FP8_BLOCK_SCALING_FP32_SCALES", "qwen3-4b-fp8",
         fixed("launch.env.NVTE_FP8_BLOCK_SCALING_FP32_SCALES='0'")),
    Case("companion.mode-env", "warning", "launch.env.OPEN_TRAINING_INT4_GROUP_SIZE", "qwen3-30b-a3b-int4",
         fixed("launch.env.OPEN_TRAINING_INT4_GROUP_SIZE='32'")),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=case_ids(CLI_CASES))
def test_validate_reports(case: Case, tmp_path: Path) -> None:
    assert_validate_reports(case, tmp_path)
