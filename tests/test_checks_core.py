"""Each rule of the first set, tripped by a small recipe (a shipped one plus overrides)."""

from __future__ import annotations

import re

import pytest

from recipe_runner.checks import run_checks
from recipe_runner.resolve import resolve
from tests.conftest import assert_clean_error, run_cli

# (rule id, severity, field path, recipe, overrides)
CASES = [
    ("layout.world-model-parallel", "error", "parallel.tensor", "qwen3-30b-a3b-int4", ["parallel.tensor=3"]),
    ("layout.world-expert-parallel", "error", "parallel.expert", "qwen3-30b-a3b-int4", ["parallel.expert=16"]),
    ("layout.experts-ep", "error", "parallel.expert", "qwen3-30b-a3b-int4",
     ["cluster.gpus_per_node=6", "parallel.tensor=1", "parallel.expert=6", "rollout.global_batch_size=252"]),
    ("layout.ep-dense", "error", "parallel.expert", "qwen3-4b-fp8", ["parallel.expert=2"]),
    ("layout.layers-pp", "error", "parallel.pipeline", "qwen3-4b-fp8", ["parallel.tensor=1", "parallel.pipeline=8"]),
    ("layout.uneven-pp", "error", "parallel.decoder_last_pipeline_layers", "qwen3-235b-a22b-int4",
     ["parallel.decoder_last_pipeline_layers=20"]),
    ("layout.uneven-pp-without-pp", "error", "parallel.decoder_last_pipeline_layers", "qwen3-4b-fp8",
     ["parallel.decoder_last_pipeline_layers=4"]),
    ("batch.steps-per-rollout", "error", "rollout.global_batch_size", "moonlight-16b-a3b-int4",
     ["rollout.global_batch_size=128"]),
    ("batch.gbs-dp", "error", "rollout.global_batch_size", "qwen3-30b-a3b-int4", ["rollout.global_batch_size=255"]),
    ("batch.over-sampling", "error", "rollout.over_sampling_batch_size", "moonlight-16b-a3b-int4",
     ["rollout.over_sampling_batch_size=64"]),
    ("rollout.gpus-per-engine", "error", "rollout.gpus_per_engine", "qwen3-30b-a3b-int4",
     ["rollout.gpus_per_engine=3"]),
    ("rollout.multi-node-engine", "error", "rollout.gpus_per_engine", "qwen3-235b-a22b-int4",
     ["rollout.gpus_per_engine=12", "cluster.rollout_gpus=48"]),
    ("rollout.sglang-ep", "error", "rollout.sglang.expert_parallel_size", "qwen3-30b-a3b-fp8",
     ["rollout.sglang.expert_parallel_size=3"]),
    ("rollout.sglang-dp-attention", "error", "rollout.sglang.enable_dp_attention", "qwen3-30b-a3b-fp8",
     ["rollout.sglang.data_parallel_size=2"]),
    ("rollout.gpus-unset", "error", "cluster.rollout_gpus", "qwen3-4b-fp8", ["cluster.colocate=false"]),
    ("layout.heads-tp", "error", "parallel.tensor", "qwen3-4b-fp8", ["cluster.gpus_per_node=6", "parallel.tensor=6"]),
    ("layout.kv-heads-tp", "error", "parallel.tensor", "qwen3-30b-a3b-int4", ["parallel.tensor=8"]),
    ("rollout.heads-tp", "error", "rollout.gpus_per_engine", "qwen3-4b-fp8",
     ["cluster.gpus_per_node=6", "rollout.gpus_per_engine=6"]),
    ("rollout.kv-heads-tp", "error", "rollout.gpus_per_engine", "qwen3-4b-fp8",
     ["cluster.gpus_per_node=6", "rollout.gpus_per_engine=6"]),
    ("eval.no-datasets", "error", "data.eval.datasets", "qwen3-4b-fp8", ["~data.eval.datasets"]),
    ("ckpt.save-interval", "error", "checkpoints.save", "qwen3-4b-fp8", ["~checkpoints.save"]),
    ("training.deepep-dense", "error", "training.deepep", "qwen3-4b-fp8", ["training.deepep=true"]),
    ("wandb.project", "error", "wandb.project", "qwen3-4b-fp8", ["wandb.enabled=true"]),
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
    ("shapes.fp8-block", "error", "rollout.gpus_per_engine", "qwen3-30b-a3b-fp8",
     ["rollout.sglang.expert_parallel_size=null"]),
    ("shapes.fp8-block", "error", "rollout.gpus_per_engine", "qwen3-4b-fp8", ["rollout.gpus_per_engine=8"]),
    ("shapes.int4-group", "error", "precision.group_size", "moonlight-16b-a3b-int4",
     ["rollout.sglang.expert_parallel_size=null"]),
    ("shapes.int4-group-train", "error", "parallel.expert_tensor", "qwen3-30b-a3b-int4",
     ["parallel.expert=2", "parallel.expert_tensor=4"]),
]


@pytest.mark.parametrize(("rule", "severity", "path", "recipe", "overrides"), CASES,
                         ids=[f"{c[0]}:{' '.join(c[4])}" for c in CASES])
def test_rule_trips(rule: str, severity: str, path: str, recipe: str, overrides: list[str]) -> None:
    findings = run_checks(resolve(recipe, overrides))
    hits = [f for f in findings if f.rule == rule]
    assert hits, [f.line() for f in findings]
    assert {(f.severity, f.path) for f in hits} == {(severity, path)}
    assert all(f.message and f.hint for f in hits)


MODE_RULES = {"precision.gpu", "precision.qat-dense", "precision.conversion-empty", "shapes.fp8-moe-intermediate"}


@pytest.mark.parametrize(("recipe", "overrides"), [
    ("qwen3-4b-bf16", ["precision=int4-rollout"]), ("qwen3-4b-bf16", ["precision=int4-qat", "cluster.gpu=L40S"]),
    ("qwen3-4b-fp8", ["cluster.gpu=A100"]),
    ("qwen3-30b-a3b-fp8", ["model.config_overrides.moe_intermediate_size=1000", "cluster.gpu=L40S"]),
])
def test_hints_suggest_only_modes_that_pass(recipe: str, overrides: list[str]) -> None:
    hints = [f.hint for f in run_checks(resolve(recipe, overrides)) if f.rule in MODE_RULES]
    suggested = {m for h in hints for m in re.findall(r"precision=(\S+?)(?: \(or ([^)]*)\))?(?:,|$)", h)[0] if m}
    modes = {m.strip() for s in suggested for m in s.split(",")}
    assert hints and modes
    for m in modes:
        findings = run_checks(resolve(recipe, [*overrides, f"precision={m}"]))
        refused = [f.line() for f in findings if f.rule in MODE_RULES]
        assert refused == [], (m, refused)


def test_validate_layout_error_through_the_cli() -> None:
    result = run_cli("validate", "qwen3-30b-a3b-int4", "parallel.tensor=3")
    assert_clean_error(result, "parallel.tensor", "TP*PP*CP", "rule:", "fix:")
