"""A catalogue of bad recipes: one or more per pre-flight rule, each with its exact field path.

Errors go through the real CLI (`validate`, exit 2, the path on the problem line, the rule id on the next);
warnings and notes print `severity: path:` and exit 0.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from recipe_runner.checks import run_checks
from recipe_runner.resolve import resolve
from tests.checks.fake_checkpoints import FP8, KIMI_INT4, moe_names, write_checkpoint, write_torch_dist
from tests.conftest import run_cli


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


BF16_NAMES = moe_names(packed=False)
CASES = [
    # part 1: checkpoints
    Case("checkpoint.not-found", "note", "checkpoints.ref_load", "qwen3-4b-bf16", fixed()),
    Case("checkpoint.convert-output", "note", "checkpoints.rollout", "qwen3-4b-fp8", fixed()),
    Case("checkpoint.rollout-quantization", "error", "checkpoints.rollout", "qwen3-30b-a3b-fp8-rollout",
         rollout(None, names=BF16_NAMES)),  # a BF16 checkpoint where FP8 was meant
    Case("checkpoint.rollout-quantization", "error", "checkpoints.rollout", "qwen3-30b-a3b-fp8-rollout",
         rollout({**FP8, "weight_block_size": [128, 64]}, names=[*BF16_NAMES, "x.weight_scale_inv"])),
    Case("checkpoint.rollout-quantization", "error", "checkpoints.rollout", "qwen3-30b-a3b-fp8-rollout",
         rollout(FP8, names=BF16_NAMES)),  # no weight_scale_inv tensors
    Case("checkpoint.rollout-quantization", "error", "checkpoints.rollout", "qwen3-30b-a3b-int4",
         rollout(int4(format="float-quantized"))),
    Case("checkpoint.rollout-quantization", "error", "checkpoints.hf", "qwen3-4b-bf16",
         hf(FP8, "qwen3-4b")),  # stale quantization_config on the BF16 rollout checkpoint
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
    Case("checkpoint.conversion-source", "error", "checkpoints.hf", "qwen3-30b-a3b-fp8-rollout",
         hf(FP8, "qwen3-30b-a3b")),
    Case("checkpoint.conversion-model-type", "error", "checkpoints.hf", "kimi-k2-thinking-int4",
         hf(None, "kimi-k2-thinking")),
    Case("checkpoint.model-config", "error", "model.config", "qwen3-4b-bf16",
         hf(None, "qwen3-4b", rope_theta=5000000)),  # the -2507 trap (THUDM/slime#641)
    # slime's start-up check (_hf_validate_args) on the plan's model args
    Case("model.hf-validate", "error", "model.extra_args", "qwen3-4b-bf16",
         fixed("model.extra_args=[--rotary-base,'5000000']")),  # overrides the derived --rotary-base
    Case("model.hf-validate", "error", "model.config", "qwen3-4b-bf16",
         hf(None, "qwen3-4b", tie_word_embeddings=False)),  # the checkpoint's config differs from the recipe's
    # part 2: shapes
    Case("shapes.fp8-moe-intermediate", "error", "precision.mode", "qwen3-30b-a3b-fp8",
         fixed("model.config_overrides.moe_intermediate_size=1000")),
    # part 3: hardware
    Case("hardware.stack", "note", "precision.mode", "qwen3-30b-a3b-int4", fixed()),
    Case("hardware.caution", "warning", "cluster.gpu", "qwen3-4b-fp8", fixed("cluster.gpu=B200")),
    # part 4: memory
    Case("memory.train-states", "error", "parallel.expert", "qwen3-30b-a3b-int4-rollout",
         fixed("optimizer.cpu_offload=false", "parallel.expert=1")),
    Case("memory.train-total", "warning", "training.max_tokens_per_gpu", "qwen3-4b-bf16",
         fixed("training.max_tokens_per_gpu=262144")),
    Case("memory.rollout-weights", "error", "rollout.gpus_per_engine", "qwen3-30b-a3b-int4-rollout",
         fixed("precision=bf16", "cluster.gpu=L40S")),
    Case("memory.kv-batch", "warning", "rollout.sglang.mem_fraction_static", "qwen3-30b-a3b-int4",
         fixed("rollout.max_response_len=65536")),
    # part 5: companions
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
    # part 7: SGLang passthrough
    Case("sglang.unknown-flag", "error", "rollout.sglang.extra_args", "qwen3-4b-bf16",
         fixed("rollout.sglang.extra_args=[--sglang-tp-size,'2']")),
]


def problems(stderr: str) -> set[tuple[str, str]]:
    """(field path, rule id) of every problem the CLI printed."""
    return set(re.findall(r"^  (\S+): .*\n    rule: (\S+)", stderr, flags=re.M))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.rule}:{i}" for i, c in enumerate(CASES)])
def test_bad_recipe(case: Case, tmp_path: Path) -> None:
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


def test_good_checkpoints_pass(tmp_path: Path) -> None:
    ckpt = [f"checkpoints.rollout={write_checkpoint(tmp_path / 'r', 'qwen3-30b-a3b', int4())}",
            f"checkpoints.hf={write_checkpoint(tmp_path / 'hf', 'qwen3-30b-a3b', None, moe_names(False))}",
            f"checkpoints.ref_load={write_torch_dist(tmp_path / 'dist')}"]
    findings = run_checks(resolve("qwen3-30b-a3b-int4", ckpt))
    assert [f.line() for f in findings if f.rule.startswith("checkpoint.")] == []
    result = run_cli("validate", "qwen3-30b-a3b-int4", *ckpt)
    assert result.code == 0 and "not checked" not in result.err, result.err
