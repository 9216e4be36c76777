"""Composition through Hydra: groups, the override grammar, user recipe dirs, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from recipe_runner.compose import compose, list_recipes
from recipe_runner.errors import UserError
from tests.conftest import assert_clean_error, run_cli

SHIPPED = ["deepseek-r1-bf16", "glm5-744b-a40b-bf16", "kimi-k2-instruct-fp8-rollout", "kimi-k2-thinking-int4",
           "moonlight-16b-a3b-int4", "qwen3-235b-a22b-int4", "qwen3-30b-a3b-fp8", "qwen3-30b-a3b-fp8-rollout",
           "qwen3-30b-a3b-int4", "qwen3-30b-a3b-int4-rollout", "qwen3-32b-bf16", "qwen3-4b-bf16", "qwen3-4b-fp8",
           "qwen3-4b-fp8-rollout", "qwen3-next-80b-a3b-bf16", "qwen3.5-27b-bf16"]


def test_catalogue_lists_the_shipped_recipes() -> None:
    assert [n for n, _ in list_recipes()] == SHIPPED


def test_key_value_and_group_selection() -> None:
    d = compose("qwen3-30b-a3b-int4", ["cluster.nodes=2", "precision=int4-rollout", "rollout.temperature=0.7"])
    assert d["cluster"]["nodes"] == 2
    assert d["precision"]["mode"] == "int4-rollout"
    assert d["rollout"]["temperature"] == 0.7


def test_append_delete_and_lists() -> None:
    d = compose("qwen3-4b-fp8", ["+launch.env.MY_FLAG=1", "~checkpoints.load",
                                 "rollout.sglang.cuda_graph_bs=[1,2,4]"])
    assert d["launch"]["env"]["MY_FLAG"] == 1
    assert "load" not in d["checkpoints"]
    assert d["rollout"]["sglang"]["cuda_graph_bs"] == [1, 2, 4]


def test_schema_field_absent_from_yaml_can_be_set_without_plus() -> None:
    d = compose("qwen3-4b-fp8", ["precision.fp8_param_gather=true", "cluster.ray.head_ip=10.0.0.1"])
    assert d["precision"]["fp8_param_gather"] is True
    assert d["cluster"]["ray"]["head_ip"] == "10.0.0.1"


@pytest.mark.parametrize(("override", "suggestion"), [
    ("cluster.node=2", "cluster.nodes"),
    ("rollout.temprature=1", "rollout.temperature"),
    ("precison=fp8-full", "precision"),
])
def test_typo_gets_did_you_mean(override: str, suggestion: str) -> None:
    with pytest.raises(UserError) as e:
        compose("qwen3-4b-fp8", [override])
    assert f"did you mean '{suggestion}'" in e.value.render()


@pytest.mark.parametrize(("override", "needles"), [
    ("+cluster.nodes=3", ["cluster.nodes", "already has 'cluster.nodes'", "++cluster.nodes="]),
    ("~cluster.nodez", ["no such key 'cluster.nodez'", "did you mean 'cluster.nodes'"]),
    ("cluster.ray.head_ipp=1", ["no such key 'cluster.ray.head_ipp'", "did you mean 'cluster.ray.head_ip'"]),
    ("cluster.nodes=1,2", ["Ambiguous value", "cluster.nodes=1,2"]),
])
def test_refused_overrides_are_named_from_hydras_typed_errors(override: str, needles: list[str]) -> None:
    """Hydra's exceptions are read by type and field (the refused key, the parsed overrides), not by message."""
    with pytest.raises(UserError) as e:
        compose("qwen3-4b-fp8", [override])
    text = e.value.render()
    assert all(n in text for n in needles), text


def test_unknown_group_option_lists_the_options() -> None:
    with pytest.raises(UserError) as e:
        compose("qwen3-4b-fp8", ["precision=fp8-ful"])
    text = e.value.render()
    assert "fp8-full" in text and "int4-qat" in text


def test_unknown_recipe_suggests() -> None:
    with pytest.raises(UserError) as e:
        compose("qwen3-4b-fp9")
    assert "qwen3-4b-fp8" in e.value.render()


def test_user_recipes_dir_adds_recipes_and_group_options(tmp_path: Path) -> None:
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / "h100-4x8.yaml").write_text("name: h100-4x8\nnodes: 4\ngpus_per_node: 8\ngpu: H100\n")
    (tmp_path / "team-30b.yaml").write_text(
        "defaults:\n  - qwen3-30b-a3b-int4\n  - override cluster: h100-4x8\n  - _self_\nname: team-30b\n")
    assert "team-30b" in [n for n, _ in list_recipes(tmp_path)]
    d = compose("team-30b", [], tmp_path)
    assert (d["name"], d["cluster"]["nodes"], d["cluster"]["gpu"]) == ("team-30b", 4, "H100")
    d = compose("qwen3-4b-fp8", ["cluster=h100-4x8"], tmp_path)
    assert d["cluster"]["gpu"] == "H100"
    result = run_cli("plan", "team-30b", "--recipes-dir", str(tmp_path), "--format", "json")
    assert result.code == 0, result.err


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("name: broken\nrollout:\n  batch_size: [1, 2\n")
    result = run_cli("validate", "broken", "--recipes-dir", str(tmp_path))
    assert_clean_error(result, "broken.yaml", "malformed YAML")


@pytest.mark.parametrize("args", [
    ("validate", "qwen3-4b-fp8", "cluster.node=2"),
    ("plan", "qwen3-4b-fp8", "x=("),
    ("show", "nope"),
    ("validate", "qwen3-4b-fp8", "precision=fp9"),
    ("validate", "qwen3-4b-fp8", "--recipes-dir", "/does/not/exist"),
])
def test_bad_overrides_exit_2_without_traceback(args: tuple[str, ...]) -> None:
    assert_clean_error(run_cli(*args))
