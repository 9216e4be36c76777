"""Pre-flight and the converter share one rule for what a conversion quantizes, and the same words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from recipe_runner.checks.linears import hf_weights
from recipe_runner.checks.modes import conversion_refusal
from recipe_runner.errors import UserError
from recipe_runner.formats import Fp8Params, Int4Params, nothing_quantized, quantized_by_default
from recipe_runner.precision import MODES
from recipe_runner.quant.shard_plan import plan_conversion
from recipe_runner.quant.source import open_checkpoint
from recipe_runner.resolve import resolve
from tests.quant.tiny_models import layout

# tiny test family -> the shipped recipe and bundled config of that architecture
FAMILIES = {"qwen3": ("qwen3-4b-bf16", "qwen3-4b"), "qwen3_moe": ("qwen3-30b-a3b-int4", "qwen3-30b-a3b"),
            "deepseek_v3": ("kimi-k2-thinking-int4", "kimi-k2-thinking"),
            "moonlight": ("moonlight-16b-a3b-int4", "moonlight-16b-a3b")}
PARAMS = {"fp8": Fp8Params(), "int4": Int4Params(32)}


def _kinds(names: dict[str, tuple[int, ...]], conversion: str) -> set[str]:
    """Quantized 2-D weights, with layer and expert numbers folded (every layer repeats the names)."""
    return {re.sub(r"\.(layers|experts)\.\d+\.", r".\1.0.", n) for n, s in names.items()
            if quantized_by_default(conversion, n, s)}


@pytest.mark.parametrize("conversion", PARAMS)
@pytest.mark.parametrize("family", FAMILIES)
def test_preflight_names_quantize_like_a_real_checkpoint(family: str, conversion: str) -> None:
    recipe, config = FAMILIES[family]
    shape = resolve(recipe, [f"model.config={config}"]).shape
    assert _kinds(dict(hf_weights(shape)), conversion) == _kinds(layout(family)[0], conversion)


@pytest.mark.parametrize("family", FAMILIES)
def test_validate_refuses_exactly_what_the_converter_refuses(family: str, checkpoints: dict[str, Path]) -> None:
    recipe, config = FAMILIES[family]
    for name, m in MODES.items():
        if m.conversion is None:
            continue
        resolved = resolve(recipe, [f"model.config={config}", f"precision={name}"])
        refusal = conversion_refusal(m, resolved.recipe, resolved.shape)
        try:
            plan_conversion(open_checkpoint(checkpoints[family]), PARAMS[m.conversion])
            converter = None
        except UserError as e:
            converter = e.render()
        assert (refusal is None) == (converter is None), (name, refusal, converter)
        if converter:
            for words in nothing_quantized(m.conversion):
                assert words in converter and words in refusal
