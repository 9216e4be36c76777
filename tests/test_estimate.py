"""The memory formulas against published checkpoint sizes (shared/model-configs/SOURCES.md)."""

from __future__ import annotations

import pytest

from recipe_runner.estimate import estimate, params
from recipe_runner.resolve import resolve
from tests.conftest import run_cli

GIB = 2**30


@pytest.mark.parametrize(("recipe", "total_bytes"), [
    ("qwen3-4b-bf16", 8_044_936_192),  # Qwen3-4B index metadata.total_size
    ("qwen3-30b-a3b-int4", 61_064_245_248),  # Qwen3-30B-A3B index metadata.total_size
])
def test_bf16_bytes_equal_the_published_index_size(recipe: str, total_bytes: int) -> None:
    assert 2 * params(resolve(recipe).shape).total == total_bytes


def test_qwen3_235b_and_kimi_int4_match_their_on_disk_sizes() -> None:
    assert 2 * params(resolve("qwen3-235b-a22b-int4").shape).total / GIB == pytest.approx(438, rel=0.01)
    kimi = resolve("kimi-k2-thinking-int4")  # native INT4 g32 experts, the rest BF16: ~554 GiB on disk
    e = estimate(kimi.recipe, kimi.shape)
    assert e.rollout.weights * kimi.recipe.rollout.sglang.expert_parallel_size / GIB == pytest.approx(554, rel=0.01)


def test_estimate_modes_side_by_side() -> None:
    result = run_cli("estimate", "qwen3-30b-a3b-int4", "--modes", "bf16,fp8-rollout,int4-rollout")
    assert result.code == 0, result.err
    head, *rows = result.out.splitlines()
    assert head.split() == ["bf16", "fp8-rollout", "int4-rollout"]
    weights = next(r for r in rows if r.startswith("rollout weights")).split()[-3:]
    assert [float(w) for w in weights] == sorted((float(w) for w in weights), reverse=True)


def test_estimate_unknown_mode_is_a_clean_error() -> None:
    result = run_cli("estimate", "qwen3-30b-a3b-int4", "--modes", "fp4")
    assert result.code == 2 and "Traceback" not in result.err and "precision" in result.err
