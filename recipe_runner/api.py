"""The library's front door: one function per user action, used by the CLI and by other tools."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from recipe_runner import recommend as recommend_mod
from recipe_runner.checks import Finding, errors, run_checks
from recipe_runner.compose import list_recipes
from recipe_runner.errors import Problem, UserError
from recipe_runner.layout import label
from recipe_runner.plan import Plan, build_plan
from recipe_runner.precision import recipe_group_size
from recipe_runner.resolve import Resolved, resolve
from recipe_runner.resources import shipped
from recipe_runner.spec import Recipe

SCHEMA_FILE = shipped("schemas") / "recipe.schema.json"


@dataclass(frozen=True)
class CatalogueRow:
    recipe: str
    model: str
    mode: str
    layout: str
    gpu: str
    group_size: str
    maturity: str
    description: str


def check(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None
          ) -> tuple[Resolved, list[Finding]]:
    """Resolve and run every rule; raise UserError listing the errors, return the warnings."""
    resolved = resolve(name, overrides, recipes_dir)
    findings = run_checks(resolved)
    bad = errors(findings)
    if bad:
        raise UserError(f"recipe {name!r} fails {len(bad)} check{'s' if len(bad) > 1 else ''}",
                        [f.problem() for f in bad])
    return resolved, findings


def plan(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None) -> Plan:
    resolved, findings = check(name, overrides, recipes_dir)
    return build_plan(resolved, findings)


def show(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None,
         key: str | None = None) -> str:
    """The resolved recipe as YAML, or only the subtree (or value) at dotted `key`."""
    import yaml

    from recipe_runner.explain import lookup

    data = resolve(name, overrides, recipes_dir).recipe.model_dump(mode="json")
    return yaml.safe_dump(lookup(data, key) if key else data, sort_keys=False).removesuffix("...\n")


def split_key(args: list[str]) -> tuple[str | None, list[str]]:
    """`show RECIPE [KEY] [overrides]`: a KEY has no `=` and is no `~deletion`; the rest are overrides."""
    keys = [a for a in args if "=" not in a and not a.startswith("~")]
    if len(keys) > 1:
        raise UserError("invalid arguments", [Problem(keys[1], "a second KEY", rule="show takes one dotted KEY "
                                                      "and key=value overrides", hint=f"drop {keys[1]!r}")])
    return (keys[0] if keys else None), [a for a in args if a not in keys]


def strict_findings(findings: list[Finding]) -> list[Finding]:
    """What `validate --strict` refuses besides errors: warnings, and checks that could not run here."""
    return [f for f in findings if f.severity == "warning" or f.rule == "checkpoint.not-found"]


@dataclass(frozen=True)
class Catalogue:
    rows: tuple[CatalogueRow, ...]
    broken: tuple[tuple[str, UserError], ...]  # recipes that do not resolve, with why: one never hides the rest


def catalogue(recipes_dir: str | None = None) -> Catalogue:
    rows, broken = [], []
    for name, _ in list_recipes(recipes_dir):
        try:
            r = resolve(name, (), recipes_dir).recipe
        except UserError as e:
            broken.append((name, e))
            continue
        group = recipe_group_size(r)
        rows.append(CatalogueRow(name, r.model.name, r.precision.mode, label(r), r.cluster.gpu,
                                 str(group) if group else "-", r.maturity, r.description))
    return Catalogue(tuple(rows), tuple(broken))


def json_schema() -> dict:
    """The recipe schema for editors.

    A recipe file with a Hydra `defaults` list is partial (config groups and base recipes fill in the rest),
    so nothing is required of it; a file without one is the whole recipe, and every field `validate`
    requires is marked `required` (`then` branch: the `*Complete` definitions).
    """
    complete = Recipe.model_json_schema()
    complete_defs = complete.pop("$defs")
    schema = copy.deepcopy(complete)
    _drop_required(schema)
    schema["$defs"] = copy.deepcopy(complete_defs)
    _drop_required(schema["$defs"])
    schema["$defs"] |= {f"{k}Complete": _to_complete(v) for k, v in complete_defs.items()}
    schema["$defs"]["RecipeComplete"] = _to_complete(complete)
    schema["properties"]["defaults"] = {
        "type": "array", "description": "Hydra defaults list: config-group options and base recipes to merge.",
        "items": {"anyOf": [{"type": "string"}, {"type": "object"}]},
    }
    schema["if"] = {"not": {"required": ["defaults"]}}
    schema["then"] = {"$ref": "#/$defs/RecipeComplete"}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "recipe-runner recipe"
    return schema


def _to_complete(node: object) -> object:
    """A copy whose `$ref`s point at the `*Complete` definitions (those keep `required`)."""
    if isinstance(node, dict):
        return {k: (v + "Complete" if k == "$ref" else _to_complete(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [_to_complete(v) for v in node]
    return node


def _drop_required(node: object) -> None:
    if isinstance(node, dict):
        node.pop("required", None)
        for v in node.values():
            _drop_required(v)
    elif isinstance(node, list):
        for v in node:
            _drop_required(v)


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def recommend(model: str | None, request: recommend_mod.Request, model_config: str | None = None,
              recipes_dir: str | None = None, write_dir: str | None = None
              ) -> tuple[recommend_mod.Recommendation, Path | None]:
    """Rank what fits the model on the cluster; with `write_dir`, write the best row as a recipe that validates."""
    base_name, base_overrides = recommend_mod.base_recipe(model, model_config, recipes_dir)
    rec = recommend_mod.recommend(resolve(base_name, base_overrides, recipes_dir), request)
    if write_dir is None:
        return rec, None
    return rec, _write_recommended(rec, base_name, base_overrides, recipes_dir, write_dir)


def _write_recommended(rec: recommend_mod.Recommendation, base_name: str, base_overrides: list[str],
                       recipes_dir: str | None, write_dir: str) -> Path:
    from recipe_runner.recipe_writer import recipe_document, write_recipe

    best = rec.rows[0]
    groups, fields = {}, {}
    for override in [*base_overrides, *best.overrides]:
        key, _, value = override.partition("=")
        if "." in key:
            fields[key] = yaml.safe_load(value)
        else:
            groups[key] = value
    r = best.recipe
    name = f"{r.model.name}-{r.precision.mode}-{label(r)}-{r.cluster.gpu}".lower()
    doc = recipe_document(name, base_name, groups, fields | {"description": f"recommended: {'; '.join(best.why[:2])}"})
    path = write_recipe(write_dir, doc)
    try:
        plan(name, (), str(path.parent))
    except UserError:
        path.unlink()
        raise
    return path
