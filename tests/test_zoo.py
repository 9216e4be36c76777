"""`list --models`: which precision modes each model's shapes allow, by the pre-flight shape rules themselves."""

from __future__ import annotations

import pytest

from recipe_runner.api import check
from recipe_runner.compose import group_options
from recipe_runner.errors import UserError
from recipe_runner.models import load_config, shape_of
from recipe_runner.zoo import mode_fits
from tests.conftest import run_cli


def fits(config: str, group: int = 128) -> dict:
    return mode_fits(shape_of(load_config(config)), group)


def test_moe_intermediate_sizes_that_break_block_fp8_at_some_tp() -> None:
    # 768/4 = 192 (vllm-project/vllm#25292); 1536/8 = 192 (vllm-project/vllm#17569): whole experts (EP) still fit.
    assert fits("qwen3-30b-a3b")["fp8-rollout"].tp == (1, 2)
    assert fits("qwen3-30b-a3b")["fp8-rollout"].ep == (1, 2, 4, 8)
    assert fits("qwen3-235b-a22b")["fp8-full"].tp == (1, 2, 4)


def test_int4_group_divides_each_routed_expert_shard() -> None:
    assert fits("moonlight-16b-a3b")["int4-rollout"].tp == (1,)  # 1408/2 = 704, not a multiple of 128
    assert fits("moonlight-16b-a3b", 32)["int4-rollout"].tp == (1, 2, 4)  # 1408/8 = 176 = 5.5 groups of 32
    assert fits("kimi-k2-instruct", 32)["int4-qat"].tp == (1, 2, 4, 8)


def test_int4_qat_needs_routed_experts() -> None:
    for dense in ("qwen3-4b", "llama3.1-8b-instruct", "qwen3.5-27b"):
        assert not fits(dense)["int4-qat"].allowed
    assert fits("qwen3.5-35b-a3b")["int4-qat"].allowed


def test_the_listing_agrees_with_validate() -> None:
    assert 4 not in fits("qwen3-30b-a3b")["fp8-rollout"].tp
    with pytest.raises(UserError) as e:
        check("qwen3-30b-a3b-fp8-rollout", ["rollout.gpus_per_engine=4", "rollout.sglang.expert_parallel_size=null"])
    assert "FP8 block" in e.value.render()


def test_list_models_shows_every_model_option() -> None:
    result = run_cli("list", "--models")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["model", "family", "params", "active", "bf16", "fp8-rollout", "fp8-full", "int4-qat",
                                "int4-rollout"]
    rows = {line.split()[0]: line for line in lines[1:] if line and not line.startswith(("modes:", "INT4"))}
    assert set(rows) == set(group_options("model"))
    assert rows["qwen3-30b-a3b"].split()[1:4] == ["qwen3-moe", "30.5B", "3.4B"]
    assert "tp 1,2 ep 1,2,4,8" in rows["qwen3-30b-a3b"]
    assert rows["qwen3-4b"].split()[-3] == "no"  # int4-qat on a dense model


@pytest.mark.parametrize("name", ["qwen2.5-0.5b", "qwen3.5-35b-a3b-vl", "glm5.2-744b-a40b"])
def test_model_options_with_dotted_names_compose_through_hydra(name: str) -> None:
    from recipe_runner.resolve import resolve

    assert resolve("qwen3-4b-bf16", [f"model={name}"]).recipe.model.config == name.removesuffix("-vl")


@pytest.mark.parametrize(("config", "billions"), [("qwen3-next-80b-a3b", 80), ("qwen3.5-9b", 9), ("qwen3.5-27b", 27),
                                                  ("qwen3.5-35b-a3b", 35)])
def test_hybrid_linear_attention_layers_are_counted(config: str, billions: int) -> None:
    """Gated-DeltaNet layers have their own projections; the language model alone rounds to the name's size."""
    from recipe_runner.estimate import params

    assert round(params(shape_of(load_config(config))).total / 1e9) == billions
