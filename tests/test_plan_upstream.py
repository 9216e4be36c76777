"""Each shipped recipe's train.py argv equals upstream slime's script, flag for flag, except the fixes
listed in docs/upstream-fixes.md and checkpoint/data paths (compared for presence only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipe_runner.api import plan
from recipe_runner.models import load_config, model_args, shape_of
from tests.upstream import MODEL_ARGS, PATH_FLAGS, SCRIPTS, parse_args

ROPE_ALIAS = {"--use-rotary-position-embeddings", "--position-embedding-type", "--rotary-percent"}
FP8_TRAIN = {"--transformer-impl", "--bf16", "--fp8-format", "--fp8-recipe"}

# recipe -> (upstream script, flags that differ on purpose)
CASES = {
    "qwen3-4b-fp8": ("run-qwen3-4b-fp8.sh", ROPE_ALIAS | FP8_TRAIN),
    "qwen3-4b-fp8-rollout": ("run-qwen3-4b-fp8.sh", ROPE_ALIAS),
    "qwen3-30b-a3b-fp8": ("run-qwen3-30b-a3b-fp8.sh", {"--sequence-parallel"}),
    "qwen3-30b-a3b-int4": ("run-qwen3-30B-A3B-int4.sh", set()),
    "moonlight-16b-a3b-int4": ("run-moonlight-16B-A3B-int4.sh", {"--num-gpus-per-node", "--sglang-ep-size"}),
    "qwen3-235b-a22b-int4": ("run-qwen3-235B-A22B-int4.sh", set()),
    "kimi-k2-thinking-int4": ("run-kimi-k2-Thinking-int4.sh", {"--attention-backend"}),
}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "upstream-fixes.md"


def differing_flags(ours: dict, upstream: dict) -> set[str]:
    flags = set(ours) | set(upstream)
    return {f for f in flags if (f not in ours or f not in upstream) or
            (f not in PATH_FLAGS and ours[f] != upstream[f])}


@pytest.mark.parametrize("recipe", sorted(CASES))
def test_train_args_match_upstream_script(recipe: str) -> None:
    script, fixes = CASES[recipe]
    ours = parse_args(plan(recipe).train_args)
    upstream = parse_args(SCRIPTS[script])
    diff = differing_flags(ours, upstream)
    detail = {f: (upstream.get(f), ours.get(f)) for f in diff}
    assert diff == fixes, f"unexpected differences (upstream, ours): {detail}"


@pytest.mark.parametrize("model", sorted(MODEL_ARGS))
def test_model_args_derived_from_config_equal_upstream_model_scripts(model: str) -> None:
    import yaml

    entry = yaml.safe_load((Path(__file__).resolve().parent.parent / "recipes" / "model" / f"{model}.yaml").read_text())
    shape = shape_of(load_config(entry["config"], entry.get("config_overrides")))
    ours = parse_args(model_args(shape, entry.get("extra_args", [])))
    upstream = parse_args(MODEL_ARGS[model])
    expected = ROPE_ALIAS if model == "qwen3-4b" else set()
    assert differing_flags(ours, upstream) == expected


def test_every_fix_is_documented() -> None:
    text = DOCS.read_text()
    for _, fixes in CASES.values():
        for flag in fixes:
            assert flag in text, f"{flag} differs from upstream but docs/upstream-fixes.md does not mention it"
