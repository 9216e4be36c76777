"""The pydantic schema: exported file in sync, editor comment in every recipe, clear validation errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipe_runner.api import SCHEMA_FILE, json_schema_text
from recipe_runner.compose import SHIPPED_RECIPES
from tests.conftest import assert_clean_error, run_cli


def test_exported_schema_file_is_current() -> None:
    assert SCHEMA_FILE.read_text() == json_schema_text(), "run: recipe-runner schema > schemas/recipe.schema.json"


def test_schema_command_prints_valid_json() -> None:
    result = run_cli("schema")
    assert result.code == 0
    schema = json.loads(result.out)
    assert schema["additionalProperties"] is False
    assert "precision" in schema["properties"]


@pytest.mark.parametrize("path", sorted(SHIPPED_RECIPES.glob("*.yaml")), ids=lambda p: p.stem)
def test_recipe_files_start_with_the_schema_comment(path: Path) -> None:
    assert path.read_text().splitlines()[0] == "# yaml-language-server: $schema=../schemas/recipe.schema.json"


@pytest.mark.parametrize(("override", "needles"), [
    ("cluster.nodes=0", ["cluster.nodes", "invalid value 0", "greater than or equal to 1"]),
    ("rollout.temperature=0", ["rollout.temperature", "greater than 0"]),
    ("cluster.gpu=V100", ["cluster.gpu", "'V100'", "H200"]),
    ("precision.group_size=100", ["precision.group_size", "100", "32, 64 or 128"]),
    ("+cluster.gpus=8", ["cluster.gpus", "unknown key", "did you mean cluster.gpu"]),
    ("~rollout.batch_size", ["rollout.batch_size", "required value is missing"]),
    ("parallel.tensor=two", ["parallel.tensor", "'two'", "valid integer"]),
])
def test_validation_errors_name_path_value_rule_and_fix(override: str, needles: list[str]) -> None:
    result = run_cli("validate", "qwen3-30b-a3b-int4", override)
    assert_clean_error(result, *needles, "fix:")


def test_a_missing_block_names_the_fields_it_lacks() -> None:
    from recipe_runner.errors import UserError
    from recipe_runner.resolve import resolve

    with pytest.raises(UserError) as e:
        resolve("qwen3-4b-fp8", ["~training", "~rollout"])
    assert [p.where for p in e.value.problems] == ["rollout.batch_size", "rollout.num_rollout",
                                                   "training.max_tokens_per_gpu"]
    assert e.value.problems[-1].hint.endswith("training.max_tokens_per_gpu=...")
    assert resolve("qwen3-4b-fp8", ["~training", "training.max_tokens_per_gpu=9216"]).recipe.training


def test_editors_flag_missing_fields_in_a_whole_recipe_file_only() -> None:
    import jsonschema
    import yaml

    from recipe_runner.api import show

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    for path in sorted(SHIPPED_RECIPES.glob("*.yaml")):  # partial files (a defaults list): nothing required
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path
    whole = yaml.safe_load(show("qwen3-4b-fp8"))  # no defaults list: the whole recipe
    assert list(validator.iter_errors(whole)) == []
    del whole["training"]["max_tokens_per_gpu"]
    assert [(list(e.path), e.message) for e in validator.iter_errors(whole)] == [
        (["training"], "'max_tokens_per_gpu' is a required property")]


@pytest.mark.parametrize(("field", "path", "needle"), [
    ("checkpoints.hf", "/tmp/" + "a" * 256, "at most 255 (NAME_MAX)"),
    ("checkpoints.save", "/tmp/" + "é" * 128, "a part of 256 bytes"),
    ("checkpoints.torch_dist", "/x" * 2048, "under 4096 (PATH_MAX)"),
])
def test_a_path_no_file_system_can_hold_is_refused_naming_the_field(field: str, path: str, needle: str) -> None:
    """Not a traceback from the first check that stats it (ENAMETOOLONG)."""
    result = run_cli("validate", "qwen3-4b-bf16", f"{field}='{path}'")
    assert_clean_error(result, field)
    assert needle in result.err
