"""Checkpoint rules (checks/checkpoint.py) through `validate`, over small generated checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipe_runner.checks import run_checks
from recipe_runner.resolve import resolve
from tests.checks.fake_checkpoints import FP8, KIMI_INT4, moe_names, write_checkpoint, write_torch_dist
from tests.checks.rule_cases import BF16_NAMES, Case, assert_validate_reports, case_ids, fixed, hf, int4, rollout
from tests.conftest import run_cli

CLI_CASES = [
    Case("checkpoint.not-found", "note", "checkpoints.hf", "qwen3-4b-bf16", fixed()),
    Case("checkpoint.convert-output", "note", "checkpoints.torch_dist", "qwen3-4b-bf16", fixed()),
    Case("checkpoint.convert-output", "note", "checkpoints.bf16", "kimi-k2-thinking-int4", fixed()),
    Case("checkpoint.convert-output", "note", "checkpoints.rollout", "qwen3-4b-fp8", fixed()),
    Case("checkpoint.rollout-quantization", "error", "checkpoints.rollout", "qwen3-30b-a3b-fp8-rollout",
         rollout(None, names=BF16_NAMES)),  # a BF16 checkpoint where FP8 was meant
    Case("checkpoint.rollout-quantization", "error", "checkpoints.rollout", "qwen3-30b-a3b-fp8-rollout",
         rollout({**FP8, "weight_block_size": [128, 64]}, names=[*BF16_NAMES, "x.weight_scale_inv"])),
    Case("checkpoint.rollout-quantization", "error", "checkpoints.rollout", "qwen3-30b-a3b-fp8-rollout",
         rollout(FP8, names=BF16_NAMES)),  # no weight_scale_inv tensors
    Case("checkpoint.rollout-quantization", "error", "checkpoints.rollout", "qwen3-30b-a3b-int4",
         rollout(int4(format="float-quantized"))),
    Case("checkpoint.rollout-quantization", "error", "checkpoints.rollout", "qwen3-4b-bf16",
         rollout(FP8, "qwen3-4b")),  # stale quantization_config on the BF16 rollout checkpoint
    Case("checkpoint.hf-format", "warning", "checkpoints.hf_format", "qwen3-4b-bf16",
         lambda tmp: [f"checkpoints.hf={write_checkpoint(tmp / 'hf', 'qwen3-4b', names=['lm_head.weight'])}",
                      "checkpoints.hf_format=fp8-block"]),
    Case("checkpoint.dequant-source", "error", "checkpoints.hf", "qwen3-4b-bf16",
         hf(FP8, "qwen3-4b")),  # an FP8 config over BF16 weights: nothing to dequantize
    Case("checkpoint.int4-group-size", "error", "precision.group_size", "qwen3-30b-a3b-int4",
         rollout(int4(weights={"group_size": 32}))),
    Case("checkpoint.int4-env-group-size", "warning", "launch.env.OPEN_TRAINING_INT4_GROUP_SIZE",
         "qwen3-30b-a3b-int4", lambda tmp: [*rollout(int4())(tmp), "launch.env.OPEN_TRAINING_INT4_GROUP_SIZE='32'"]),
    Case("checkpoint.int4-ignore", "error", "checkpoints.rollout", "qwen3-30b-a3b-int4",
         rollout(int4(ignore=["lm_head", "re:.*self_attn.*", "re:.*embed_tokens.*"]))),  # router quantized
    Case("checkpoint.int4-nothing-quantized", "error", "checkpoints.rollout", "qwen3-30b-a3b-int4",
         rollout(int4(ignore=["re:.*"]), names=BF16_NAMES)),
    Case("checkpoint.int4-experts-ignored", "warning", "checkpoints.rollout", "qwen3-30b-a3b-int4",
         rollout(int4(ignore=[*KIMI_INT4["ignore"], "re:.*experts\\.0\\."]), names=BF16_NAMES)),
    Case("checkpoint.ref-load", "error", "checkpoints.ref_load", "qwen3-4b-bf16",
         lambda tmp: [f"checkpoints.ref_load={write_checkpoint(tmp / 'hf-not-dist', 'qwen3-4b')}"]),
    Case("checkpoint.conversion-source", "error", "checkpoints.bf16", "qwen3-30b-a3b-fp8-rollout",
         lambda tmp: [f"checkpoints.bf16={write_checkpoint(tmp / 'bf16', 'qwen3-30b-a3b', FP8)}"]),
    Case("checkpoint.torch-dist-args", "error", "checkpoints.torch_dist", "qwen3-4b-bf16",
         lambda tmp: [f"checkpoints.torch_dist={write_torch_dist(tmp / 'dist', model_args=['--num-layers', '2'])}"]),
    Case("checkpoint.model-config", "error", "model.config", "qwen3-4b-bf16",
         hf(None, "qwen3-4b", rope_theta=5000000)),  # the -2507 trap (THUDM/slime#641)
]


@pytest.mark.parametrize("case", CLI_CASES, ids=case_ids(CLI_CASES))
def test_validate_reports(case: Case, tmp_path: Path) -> None:
    assert_validate_reports(case, tmp_path)


def test_good_checkpoints_pass(tmp_path: Path) -> None:
    ckpt = [f"checkpoints.rollout={write_checkpoint(tmp_path / 'r', 'qwen3-30b-a3b', int4())}",
            f"checkpoints.hf={write_checkpoint(tmp_path / 'hf', 'qwen3-30b-a3b', None, moe_names(False))}",
            f"checkpoints.ref_load={write_torch_dist(tmp_path / 'dist')}"]
    findings = run_checks(resolve("qwen3-30b-a3b-int4", ckpt))
    assert [f.line() for f in findings if f.rule.startswith("checkpoint.")] == []
    result = run_cli("validate", "qwen3-30b-a3b-int4", *ckpt)
    assert result.code == 0 and "not checked" not in result.err, result.err
