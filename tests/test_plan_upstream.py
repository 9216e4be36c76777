"""Each shipped recipe's train.py argv equals upstream slime's script, flag for flag, except the fixes
listed in docs/upstream-fixes.md and checkpoint/data paths (compared for presence only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipe_runner.api import plan
from tests.upstream import PATH_FLAGS, SCRIPTS, parse_args

FP8_TRAIN = {"--transformer-impl", "--bf16", "--fp8-format", "--fp8-recipe"}

# recipe -> (upstream script, flags that differ on purpose)
CASES = {
    "qwen3-4b-fp8": ("run-qwen3-4b-fp8.sh", FP8_TRAIN),
    "qwen3-4b-fp8-rollout": ("run-qwen3-4b-fp8.sh", set()),
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


def test_every_fix_is_documented() -> None:
    text = DOCS.read_text()
    for _, fixes in CASES.values():
        for flag in fixes:
            assert flag in text, f"{flag} differs from upstream but docs/upstream-fixes.md does not mention it"
