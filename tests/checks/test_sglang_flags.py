"""The SGLang flag list: slime's typed flags are in it, and it equals the live parser when sglang imports here."""

from __future__ import annotations

import argparse

import pytest

from recipe_runner.compose import list_recipes
from recipe_runner.plan import train_arg_groups
from recipe_runner.resolve import resolve
from recipe_runner.sglang_flags import server_args, sglang_version, slime_sglang_flags, unknown_flags


def test_every_shipped_recipe_emits_only_known_sglang_flags() -> None:
    for name, _ in list_recipes():
        assert unknown_flags(train_arg_groups(resolve(name))["sglang"]) == [], name


def test_slime_skips_the_flags_it_sets_itself() -> None:
    assert "--sglang-tp-size" not in slime_sglang_flags()
    assert {"--sglang-mem-fraction-static", "--sglang-server-concurrency"} <= slime_sglang_flags()


def test_data_file_matches_the_live_parser_when_sglang_imports() -> None:
    server = pytest.importorskip("sglang.srt.server_args", reason="sglang does not import on this machine")
    import sglang

    if sglang.__version__ != sglang_version():
        pytest.skip(f"installed sglang {sglang.__version__}, the data file is for {sglang_version()}")
    parser = argparse.ArgumentParser()
    server.ServerArgs.add_cli_args(parser)
    live = {o: a.dest for a in parser._actions for o in a.option_strings if o.startswith("--")}
    assert live == server_args()
