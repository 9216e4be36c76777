"""Rules of Megatron's real argument parser that our plans depend on, checked without Megatron.

Each rule was learnt by running the real parser (tests/conformance/, docs/conformance.md);
this file keeps it in CI. Sources are cited per rule.
"""
import re

import pytest

from recipe_runner import api
from recipe_runner.compose import list_recipes
from recipe_runner.models import layer_pattern

# NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:198-206 `_eval_pattern`: list-valued layer flags
# (`--moe-layer-freq` via `moe_freq_type`, :231, registered at :2731) allow only these characters before `eval`.
EVAL_PATTERN_REJECTS = re.compile(r"[^,\d\[\]\(\)\+\*]")
PATTERN_FLAGS = ("--moe-layer-freq",)


def test_layer_pattern_is_compact_and_exact():
    assert layer_pattern((False,) + (True,) * 26) == "[0]*1+[1]*26"
    assert layer_pattern((True,) * 48) == "[1]*48"
    flags = (True, False, False, True)
    assert eval(layer_pattern(flags), {"__builtins__": {}}) == [1, 0, 0, 1]


@pytest.mark.parametrize("name", [name for name, _ in list_recipes()])
def test_pattern_flags_pass_megatron_eval_pattern(name):
    argv = api.plan(name).train_args
    for flag in PATTERN_FLAGS:
        if flag in argv:
            value = argv[argv.index(flag) + 1]
            assert not EVAL_PATTERN_REJECTS.search(value), f"{name}: {flag} {value!r}"


@pytest.mark.parametrize("name", [name for name, _ in list_recipes()])
def test_moe_pattern_has_one_entry_per_layer(name):
    """The model build asserts len(pattern) == num_layers (NVIDIA/Megatron-LM@1dcf0daf:
    megatron/core/models/gpt/gpt_layer_specs.py:593): after parsing, so only this test sees it before a GPU does."""
    argv = api.plan(name).train_args
    if "--moe-layer-freq" in argv:
        pattern = eval(argv[argv.index("--moe-layer-freq") + 1], {"__builtins__": {}})
        assert len(pattern) == int(argv[argv.index("--num-layers") + 1])
