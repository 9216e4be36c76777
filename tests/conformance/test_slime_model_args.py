"""Conformance: slime's own start-up checks of model args against config.json, on one plan per model family.

Runs only when RECIPE_RUNNER_SLIME points at a slime checkout (tested with THUDM/slime@624b824a). The module
holding the checks (slime/backends/megatron_utils/arguments.py) imports Megatron-LM and transformers at the top,
so the test executes only its check functions (`_hf_validate_args` and the helpers it calls,
`_validate_allgather_cp_supported`), read from that file. What stands in for the rest of slime: the args
namespace (each train.py flag of the plan under Megatron's dest name, values typed as Megatron parses them,
Megatron's defaults for the fields the checks read) and the HF config (config.json as attributes, without the
class defaults transformers would add). Result: docs/models.md, "Conformance".
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from recipe_runner.api import plan
from recipe_runner.models import BUNDLED_CONFIGS, FAMILIES
from recipe_runner.resolve import resolve
from tests.upstream import parse_args

SLIME = os.environ.get("RECIPE_RUNNER_SLIME")
pytestmark = pytest.mark.skipif(not SLIME, reason="set RECIPE_RUNNER_SLIME to a slime checkout")

CHECKS = ("_hf_validate_args", "_is_moe_config", "_has_dense_moe_layers", "_validate_allgather_cp_supported",
          "_is_allgather_cp_dsa_model", "_ALLGATHER_CP_DSA_ARCHITECTURES")
# family -> a plan that passes our pre-flight (recipe, overrides)
PLANS = {
    "qwen2": ("qwen3-4b-bf16", ["model=qwen2.5-0.5b"]),
    "qwen3": ("qwen3-4b-bf16", []),
    "llama": ("qwen3-4b-bf16", ["model=llama3.1-8b-instruct"]),
    "qwen3-moe": ("qwen3-30b-a3b-int4", []),
    "qwen3-next": ("qwen3-next-80b-a3b-bf16", []),
    "qwen3.5": ("qwen3.5-27b-bf16", []),
    "qwen3.5-moe": ("qwen3-30b-a3b-int4", ["model=qwen3.5-35b-a3b", "parallel.tensor=2"]),
    "deepseek-v3": ("deepseek-r1-bf16", []),
    "kimi-k2": ("kimi-k2-instruct-fp8-rollout", []),
    "glm4-moe-lite": ("qwen3-30b-a3b-int4-rollout",
                      ["model=glm4.7-30b-a3b", "rollout.gpus_per_engine=4", "parallel.tensor=4"]),
    "glm-moe-dsa": ("glm5-744b-a40b-bf16", []),
    "minimax-m2": ("qwen3-235b-a22b-int4", ["model=minimax-m2", "parallel.decoder_last_pipeline_layers=14"]),
}
# Megatron's defaults for the fields the checks read (NVIDIA/Megatron-LM megatron/training/arguments.py).
DEFAULTS = {"norm_epsilon": 1e-5, "untie_embeddings_and_output_weights": False, "rotary_base": 10000,
            "moe_ffn_hidden_size": None, "moe_shared_expert_intermediate_size": None, "moe_layer_freq": 1,
            "allgather_cp": False, "context_parallel_size": 1}
INT_FLAGS = {"--hidden-size", "--num-attention-heads", "--num-layers", "--ffn-hidden-size", "--moe-ffn-hidden-size",
             "--moe-shared-expert-intermediate-size", "--rotary-base", "--context-parallel-size"}


def slime_checks() -> dict:
    source = (Path(SLIME) / "slime" / "backends" / "megatron_utils" / "arguments.py").read_text()
    wanted = [n for n in ast.parse(source).body
              if (isinstance(n, ast.FunctionDef) and n.name in CHECKS)
              or (isinstance(n, ast.Assign) and any(getattr(t, "id", "") in CHECKS for t in n.targets))]
    namespace: dict = {"ast": ast}
    exec(compile(ast.Module(wanted, []), "slime/backends/megatron_utils/arguments.py", "exec"), namespace)
    return namespace


def megatron_args(train_args: list[str]) -> SimpleNamespace:
    args = dict(DEFAULTS)
    for flag, values in parse_args(train_args).items():
        dest = flag[2:].replace("-", "_")
        if flag == "--moe-layer-freq":
            args[dest] = list(values[0])  # Megatron's moe_freq_type evaluates the pattern to a list
        elif not values:
            args[dest] = True
        else:
            args[dest] = int(values[0]) if flag in INT_FLAGS else values[0]
    if args.get("num_experts") and args["moe_ffn_hidden_size"] is None:
        args["moe_ffn_hidden_size"] = args["ffn_hidden_size"]  # Megatron's validate_args does the same
    return SimpleNamespace(**args)


def hf_config(config: str, overrides: dict) -> SimpleNamespace:
    raw = json.loads((BUNDLED_CONFIGS / f"{config}.json").read_text())
    text = raw.get("text_config", raw)
    text.update(overrides)
    if "text_config" in raw:
        raw["text_config"] = SimpleNamespace(**text)
    return SimpleNamespace(**raw)


def test_one_plan_per_family() -> None:
    assert set(PLANS) == set(FAMILIES.values())


@pytest.mark.parametrize("family", sorted(PLANS))
def test_slime_accepts_the_plans_model_args(family: str) -> None:
    checks = slime_checks()
    recipe, overrides = PLANS[family]
    p, r = plan(recipe, overrides), resolve(recipe, overrides)
    assert r.shape.family == family
    cfg = hf_config(r.recipe.model.config, r.recipe.model.config_overrides)
    args = megatron_args(p.train_args)
    checks["_hf_validate_args"](args, cfg)  # raises AssertionError listing every mismatch
    checks["_validate_allgather_cp_supported"](args, cfg)


def test_slime_rejects_a_script_value_the_config_contradicts() -> None:
    """The check is live: Qwen2.5-1.5B's rope_theta against qwen2.5-1.5B.sh's --rotary-base 10000."""
    from tests.upstream import MODEL_SCRIPTS

    with pytest.raises(AssertionError, match="rope_theta"):
        slime_checks()["_hf_validate_args"](megatron_args(MODEL_SCRIPTS["qwen2.5-1.5B.sh"].split()),
                                            hf_config("qwen2.5-1.5b", {}))
