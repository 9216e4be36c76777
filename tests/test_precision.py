"""The precision-mode table holds data, not command-line syntax: conversion parameters and train flags are
structured, and the INT4 group-size rule lives here (tags, the catalogue and the conversion all ask it)."""

from __future__ import annotations

from recipe_runner.api import catalogue
from recipe_runner.precision import MODES, conversion_params, effective_group_size, mode, recipe_group_size
from recipe_runner.resolve import resolve
from recipe_runner.steps import Arg


def test_conversion_parameters_are_data() -> None:
    assert conversion_params(mode("fp8-full"), 64) == {"block_size": [128, 128]}
    assert conversion_params(mode("int4-qat"), 64) == {"group_size": 64}
    assert conversion_params(mode("bf16"), 64) == {}
    for m in MODES.values():  # no mode stores a flag: parameter names only
        assert not any(str(k).startswith("-") for k in m.conversion_params)
        assert all(isinstance(a, Arg) for a in m.train_args)


def test_the_group_size_counts_only_for_modes_that_use_it() -> None:
    assert [effective_group_size(m, 32) for m in MODES.values()] == [None, None, None, 32, 32]
    assert recipe_group_size(resolve("qwen3-30b-a3b-int4", ["precision.group_size=64"]).recipe) == 64
    assert recipe_group_size(resolve("qwen3-30b-a3b-fp8", ["precision.group_size=64"]).recipe) is None
    rows = {row.recipe: row for row in catalogue().rows}
    assert rows["qwen3-30b-a3b-int4"].group_size == "128" and rows["qwen3-30b-a3b-fp8"].group_size == "-"
