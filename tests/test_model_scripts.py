"""Every slime model script: the Megatron args derived from the bundled real config.json, through the
`model/` group option a user picks, equal the script's MODEL_ARGS flag for flag, except the decisions
documented in docs/models.md. Scripts whose model has no real config here are listed and not counted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from recipe_runner.models import load_config, model_args, shape_of
from tests.upstream import MODEL_SCRIPTS, parse_args

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "models.md"

# THUDM/slime@624b824a:scripts/models/<script> -> recipes/model/<option>.yaml
SCRIPT_MODELS = {
    "deepseek-v3.sh": "deepseek-v3",
    "deepseek-v3-20layer.sh": "deepseek-v3-20layer",
    "deepseek-v3-5layer.sh": "deepseek-v3-5layer",
    "glm4.7-30B-A3B.sh": "glm4.7-30b-a3b",
    "glm5-744B-A40B.sh": "glm5-744b-a40b",
    "glm5.2-744B-A40B.sh": "glm5.2-744b-a40b",
    "kimi-k2.sh": "kimi-k2-instruct",
    "kimi-k2-thinking.sh": "kimi-k2-thinking",
    "llama3.1-8B-Instruct.sh": "llama3.1-8b-instruct",
    "llama3.2-3B-Instruct.sh": "llama3.2-3b-instruct",
    "llama3.2-3B-Instruct-amd.sh": "llama3.2-3b-instruct",
    "minimax-m2.sh": "minimax-m2",
    "moonlight.sh": "moonlight-16b-a3b",
    "qwen2.5-0.5B.sh": "qwen2.5-0.5b",
    "qwen2.5-1.5B.sh": "qwen2.5-1.5b",
    "qwen2.5-3B.sh": "qwen2.5-3b",
    "qwen2.5-7B.sh": "qwen2.5-7b",
    "qwen2.5-32B.sh": "qwen2.5-32b",
    "qwen3-0.6B.sh": "qwen3-0.6b",
    "qwen3-1.7B.sh": "qwen3-1.7b",
    "qwen3-4B.sh": "qwen3-4b",
    "qwen3-4B-Instruct-2507.sh": "qwen3-4b-instruct-2507",
    "qwen3-8B.sh": "qwen3-8b",
    "qwen3-14B.sh": "qwen3-14b",
    "qwen3-32B.sh": "qwen3-32b",
    "qwen3-30B-A3B.sh": "qwen3-30b-a3b",
    "qwen3-235B-A22B.sh": "qwen3-235b-a22b",
    "qwen3-next-80B-A3B.sh": "qwen3-next-80b-a3b",
    "qwen3.5-0.8B.sh": "qwen3.5-0.8b",
    "qwen3.5-4B.sh": "qwen3.5-4b",
    "qwen3.5-9B.sh": "qwen3.5-9b",
    "qwen3.5-27B.sh": "qwen3.5-27b",
    "qwen3.5-35B-A3B.sh": "qwen3.5-35b-a3b",
    "qwen3.5-35B-A3B-vl.sh": "qwen3.5-35b-a3b-vl",
}
# No verbatim config.json of these models is available here (shared/model-configs/SOURCES-more.md).
NO_CONFIG = {"glm4-9B.sh", "glm4-32B.sh", "glm4.5-106B-A12B.sh", "glm4.5-355B-A32B.sh", "mimo-7B-rl.sh"}
# Where config.json and the script disagree, the config wins: {script: {flag: (script's value, ours)}}.
DISAGREEMENTS = {
    "qwen2.5-1.5B.sh": {"--rotary-base": ((10000.0,), (1000000.0,))},
    "glm4.7-30B-A3B.sh": {"--add-qkv-bias": ((), None)},
}


def option(name: str) -> dict:
    return yaml.safe_load((ROOT / "recipes" / "model" / f"{name}.yaml").read_text())


def derived(name: str, **overrides: object) -> dict[str, tuple]:
    entry = option(name)
    shape = shape_of(load_config(entry["config"], {**entry.get("config_overrides", {}), **overrides}))
    return parse_args(model_args(shape, entry.get("extra_args", [])))


def test_every_script_is_accounted_for() -> None:
    assert len(MODEL_SCRIPTS) == 39
    assert set(SCRIPT_MODELS) | NO_CONFIG == set(MODEL_SCRIPTS)
    assert not set(SCRIPT_MODELS) & NO_CONFIG


@pytest.mark.parametrize("script", sorted(SCRIPT_MODELS))
def test_derived_args_equal_model_script(script: str) -> None:
    ours, upstream = derived(SCRIPT_MODELS[script]), parse_args(MODEL_SCRIPTS[script])
    diff = {f: (upstream.get(f), ours.get(f)) for f in set(ours) | set(upstream) if ours.get(f) != upstream.get(f)}
    assert diff == DISAGREEMENTS.get(script, {})


def test_docs_report_the_count_and_every_gap() -> None:
    text = DOCS.read_text()
    assert f"**{len(SCRIPT_MODELS)}/39**" in text
    for script in NO_CONFIG | set(DISAGREEMENTS) | {"qwen2.5-32B.sh", "kimi-k2-thinking.sh"}:
        assert f"`{script}`" in text, f"docs/models.md does not explain {script}"
    for flags in DISAGREEMENTS.values():
        for flag in flags:
            assert f"`{flag}" in text


def test_every_model_option_is_tested() -> None:
    options = {p.stem for p in (ROOT / "recipes" / "model").glob("*.yaml")}
    assert options == set(SCRIPT_MODELS.values())


# The decisions of docs/models.md, each pinned.

def test_qwen2_5_1_5b_rotary_base_is_the_checkpoints() -> None:
    assert load_config("qwen2.5-1.5b")["rope_theta"] == derived("qwen2.5-1.5b")["--rotary-base"][0] == 1e6


def test_qwen2_5_32b_norm_epsilon_follows_the_checkpoint() -> None:
    assert derived("qwen2.5-32b")["--norm-epsilon"] == (1e-5,)  # the bundled base config, as the script
    assert derived("qwen2.5-32b", rms_norm_eps=1e-6)["--norm-epsilon"] == (1e-6,)  # an Instruct checkpoint


def test_glm4_7_flash_has_no_attention_bias() -> None:
    assert load_config("glm4.7-30b-a3b")["attention_bias"] is False
    assert "--add-qkv-bias" not in derived("glm4.7-30b-a3b")


def test_kimi_k2_thinking_norm_epsilon_comes_from_its_k2_5_sibling() -> None:
    assert "rms_norm_eps" not in load_config("kimi-k2-thinking")  # the partial copy lacks it
    assert option("kimi-k2-thinking")["config_overrides"]["rms_norm_eps"] == load_config("kimi-k2.5")["rms_norm_eps"]
    assert load_config("kimi-k2-instruct")["rms_norm_eps"] == 1e-6
    assert derived("kimi-k2-thinking")["--norm-epsilon"] == (1e-5,)


def test_bundled_configs_are_the_shared_copies_with_provenance() -> None:
    sources = (ROOT / "recipe_runner" / "data" / "model-configs" / "SOURCES.md").read_text()
    for path in (ROOT / "recipe_runner" / "data" / "model-configs").glob("*.json"):
        assert re.search(rf"`{re.escape(path.name)}`", sources), f"no provenance for {path.name}"


def test_extra_args_replace_a_derived_flag_instead_of_repeating_it() -> None:
    entry = option("qwen3.5-35b-a3b-vl")
    argv = model_args(shape_of(load_config(entry["config"])), entry["extra_args"])
    assert argv.count("--spec") == 1
    assert argv[argv.index("--spec"):][:3] == entry["extra_args"]


def test_a_family_without_a_mapping_is_refused_clearly(tmp_path: Path) -> None:
    from recipe_runner.errors import UserError

    (tmp_path / "config.json").write_text('{"model_type": "glm4", "num_hidden_layers": 40}')
    with pytest.raises(UserError) as e:
        shape_of(load_config(str(tmp_path)))
    assert "model_type 'glm4' is not supported" in e.value.render()
    assert "glm_moe_dsa" in e.value.render()
