"""The SGLang flag list: slime's typed flags are in it, and it equals the live parser when sglang imports here."""

from __future__ import annotations

import argparse

import pytest

from recipe_runner.sglang_flags import server_args, sglang_version, slime_sglang_flags


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
    patched = {o: d for o, d in server_args().items() if o not in live}
    assert live.items() <= server_args().items()
    assert set(patched.values()) <= set(PATCH_FIELDS)  # fields slime's image adds; absent from the pip wheel


# Fields slime's docker/patch/latest/sglang-*.patch add to ServerArgs (THUDM/slime@624b824a:
# sglang-deterministic.patch:1070, sglang-pull_weights.patch:179-, sglang-release_hicache.patch:447-).
PATCH_FIELDS = ("enable_fp32_moe_router", "custom_pull_weights_pre_read_hook", "release_hicache")


def test_the_list_holds_the_fields_slimes_sglang_patches_add() -> None:
    assert {"--sglang-enable-fp32-moe-router", "--sglang-custom-pull-weights-pre-read-hook",
            "--sglang-release-hicache"} <= slime_sglang_flags()
    assert set(PATCH_FIELDS) <= set(server_args().values())
