"""Layout rules (checks/layout.py): each tripped by a shipped recipe plus overrides, with its exact field path."""

from __future__ import annotations

import pytest

from tests.checks.rule_cases import assert_trips, trip_ids
from tests.conftest import assert_clean_error, run_cli

# (rule id, severity, field path, recipe, overrides)
TRIPS = [
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
    ("training.deepep-dense", "error", "training.deepep", "qwen3-4b-fp8", ["training.deepep=true"]),
    ("wandb.project", "error", "wandb.project", "qwen3-4b-fp8", ["wandb.enabled=true"]),
]


@pytest.mark.parametrize(("rule", "severity", "path", "recipe", "overrides"), TRIPS, ids=trip_ids(TRIPS))
def test_rule_trips(rule: str, severity: str, path: str, recipe: str, overrides: list[str]) -> None:
    assert_trips(rule, severity, path, recipe, overrides)


def test_validate_layout_error_through_the_cli() -> None:
    result = run_cli("validate", "qwen3-30b-a3b-int4", "parallel.tensor=3")
    assert_clean_error(result, "parallel.tensor", "TP*PP*CP", "rule:", "fix:")
