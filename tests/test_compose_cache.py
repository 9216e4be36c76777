"""The compose cache never changes output: cached == uncached for every shipped recipe, after an edit,
with resolvers, and with an unwritable cache directory (a read-only install or home)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from recipe_runner import compose_cache
from recipe_runner.api import plan
from recipe_runner.compose import SHIPPED_RECIPES, compose, list_recipes
from recipe_runner.render import render


def plan_json(name: str, overrides: list[str] | None = None, recipes_dir: str | None = None) -> str:
    return render(plan(name, overrides or [], recipes_dir), "json")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv("RECIPE_RUNNER_CACHE_DIR", str(d))
    monkeypatch.delenv("RECIPE_RUNNER_NO_CACHE", raising=False)
    return d


def uncached(monkeypatch: pytest.MonkeyPatch, fn, *args):
    with monkeypatch.context() as m:
        m.setenv("RECIPE_RUNNER_NO_CACHE", "1")
        return fn(*args)


def test_every_shipped_recipe_plans_the_same_cached_and_uncached(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [n for n, _ in list_recipes()]
    expected = {n: uncached(monkeypatch, plan_json, n) for n in names}
    assert not cache.exists()
    cold = {n: plan_json(n) for n in names}  # misses: compose and store
    assert len(list(cache.glob("*.json"))) == len(names)
    warm = {n: plan_json(n) for n in names}  # hits
    assert cold == expected and warm == expected


def test_an_edited_recipe_file_is_composed_again(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A user copy of a recipe and of a group option: a comment changes the key not the output; a value
    edit in either file reaches the plan, exactly as an uncached compose sees it."""
    extra = tmp_path / "recipes"
    (extra / "cluster").mkdir(parents=True)
    recipe, group = extra / "qwen3-30b-a3b-int4.yaml", extra / "cluster" / "h200-1x8.yaml"
    shutil.copy(SHIPPED_RECIPES / recipe.name, recipe)
    shutil.copy(SHIPPED_RECIPES / "cluster" / group.name, group)
    before = plan_json("qwen3-30b-a3b-int4", [], str(extra))
    recipe.write_text(recipe.read_text() + "# a comment\n")
    assert plan_json("qwen3-30b-a3b-int4", [], str(extra)) == before
    recipe.write_text(recipe.read_text().replace("temperature: 0.8", "temperature: 0.6"))
    group.write_text(group.read_text() + "ray: {head_ip: 10.1.2.3}\n")
    after = plan_json("qwen3-30b-a3b-int4", [], str(extra))
    assert after == uncached(monkeypatch, plan_json, "qwen3-30b-a3b-int4", [], str(extra)) != before
    composed = compose("qwen3-30b-a3b-int4", [], str(extra))
    assert composed["rollout"]["temperature"] == 0.6 and composed["cluster"]["ray"]["head_ip"] == "10.1.2.3"


def test_resolver_calls_are_not_cached(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RR_TEST_DESCRIPTION", "one")
    override = "description=${oc.env:RR_TEST_DESCRIPTION}"
    assert compose("qwen3-4b-fp8", [override])["description"] == "one"
    monkeypatch.setenv("RR_TEST_DESCRIPTION", "two")
    assert compose("qwen3-4b-fp8", [override])["description"] == "two"
    assert not list(cache.glob("*.json"))


def test_unwritable_cache_directory_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.setenv("RECIPE_RUNNER_CACHE_DIR", str(ro / "cache"))
    try:
        expected = uncached(monkeypatch, compose, "qwen3-4b-fp8")
        assert compose("qwen3-4b-fp8") == expected == compose("qwen3-4b-fp8")
    finally:
        ro.chmod(0o755)


def test_key_covers_names_overrides_and_file_content(tmp_path: Path) -> None:
    d = tmp_path / "r"
    d.mkdir()
    (d / "a.yaml").write_text("x: 1\n")
    k = compose_cache.key("a", [], (d,))
    assert k == compose_cache.key("a", [], (d,))
    assert k != compose_cache.key("a", ["x=2"], (d,)) != compose_cache.key("b", [], (d,))
    (d / "a.yaml").write_text("x: 2\n")
    assert k != compose_cache.key("a", [], (d,))
