"""The library's front door: one function per user action, used by the CLI and by other tools.

The CLI (recipe_runner/cli/) parses, calls one function here and prints; every decision lives here or in
the module this calls. Those modules stay importable without torch, ray or wandb: they load inside the
functions that need them.
"""

from __future__ import annotations

import copy
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from recipe_runner import doctor as doctor_mod
from recipe_runner import recommend as recommend_mod
from recipe_runner.authoring import new_recipe
from recipe_runner.bundle import bundle_recipe, write_bundle
from recipe_runner.checks import Finding
from recipe_runner.compare import Comparison, Filter, compare_runs
from recipe_runner.compose import list_recipes
from recipe_runner.diff import diff
from recipe_runner.doctor import table as doctor_table
from recipe_runner.errors import Problem, UserError
from recipe_runner.estimate import estimate_modes, table
from recipe_runner.explain import explain, lookup
from recipe_runner.export import plan_export, run_export
from recipe_runner.groups import group_options
from recipe_runner.jobs import job_logs, job_status, stop_job
from recipe_runner.launch import Options
from recipe_runner.launch import launch as launch_plan
from recipe_runner.layout import label
from recipe_runner.pipeline import check, checked_plan, plan
from recipe_runner.precision import recipe_group_size
from recipe_runner.recipe_writer import recipe_document, write_recipe
from recipe_runner.resolve import resolve
from recipe_runner.resources import SCHEMA_FILE
from recipe_runner.spec import Recipe
from recipe_runner.sweep import Sweep, launch_sweep, sweep, write_bundles
from recipe_runner.sweep import render_text as sweep_text
from recipe_runner.torch_dist_job import run as run_torch_dist
from recipe_runner.torch_dist_job import split_layout_args
from recipe_runner.zoo import model_rows

# The actions other modules own, offered here under the names the CLI and tools call.
__all__ = [
    "Catalogue", "CatalogueRow", "Comparison", "Filter", "Options", "SCHEMA_FILE", "Sweep", "bundle_recipe",
    "catalogue", "check", "checked_plan", "compare_runs", "diff", "doctor", "doctor_table", "estimate_modes",
    "estimate_table", "explain", "export", "group_options", "job_logs", "job_status", "json_schema",
    "json_schema_text", "launch", "launch_sweep", "model_rows", "new_recipe", "plan", "recommend", "show",
    "split_key", "stop_job", "strict_findings", "sweep", "sweep_text", "torch_dist", "validate", "write_bundles",
]


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


def show(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None,
         key: str | None = None) -> str:
    """The resolved recipe as YAML, or only the subtree (or value) at dotted `key`."""
    data = resolve(name, overrides, recipes_dir).recipe.model_dump(mode="json")
    return yaml.safe_dump(lookup(data, key) if key else data, sort_keys=False).removesuffix("...\n")


def estimate_table(name: str, overrides: list[str] | tuple[str, ...] = (), modes: list[str] | None = None,
                   recipes_dir: str | None = None) -> str:
    """Per-GPU memory of the recipe, or of each precision mode side by side, as `estimate` prints it."""
    return table(estimate_modes(name, overrides, modes, recipes_dir))


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


def validate(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None,
             strict: bool = False) -> tuple[Recipe, list[Finding]]:
    """The valid recipe and its findings (warnings, notes); errors raise, and with `strict` so do warnings
    and the checks that could not run here."""
    resolved, findings = check(name, overrides, recipes_dir)
    refused = strict_findings(findings) if strict else []
    if refused:
        raise UserError(f"recipe {name!r} fails --strict: {len(refused)} warning(s) or unchecked part(s)",
                        [f.problem() for f in refused])
    return resolved.recipe, findings


def launch(name: str, overrides: list[str] | tuple[str, ...], recipes_dir: str | None, options: Options,
           out: str | None = None) -> int:
    """Check and plan the recipe, write its bundle to `out`, then run the plan on Ray (launch.launch).

    Before anything runs, what the user should know goes to stderr: the plan's warnings, or on a dry run
    the notes on what could not be checked here (checkpoints not on this machine), as `validate` says them.
    """
    if options.wait_for_resources < 0:
        raise UserError("--wait-for-resources must be 0 or more seconds")
    resolved, p, findings = checked_plan(name, overrides, recipes_dir)
    if not options.dry_run:
        for w in p.warnings:
            print(f"warning: {w}", file=sys.stderr)
    else:
        for f in findings:
            if f.severity == "note":
                print(f"note: {f.line()}", file=sys.stderr)
    if out:
        print(f"bundle: {write_bundle(resolved, p, out, recipes_dir)}", file=sys.stderr)
    return launch_plan(resolved, p, options)


def doctor(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None,
           slime: str | None = None) -> tuple[list[doctor_mod.Check], UserError | None]:
    """This node's pre-flight checks for the recipe's plan, and the error they add up to (None: ready)."""
    resolved, p, _ = checked_plan(name, overrides, recipes_dir)
    checks = doctor_mod.probe_node(doctor_mod.request(resolved.recipe, p, resolved.shape.config, slime))
    lacking = [c.name for c in checks if c.status == "missing"]
    rejected = [c.name for c in checks if c.status == "rejected"]
    if lacking:
        return checks, UserError(f"this node lacks {len(lacking)} piece(s) recipe {name!r} needs: "
                                 + ", ".join(lacking) + (f"; slime rejects the plan ({', '.join(rejected)})"
                                                         if rejected else "") + " (see the fixes above)")
    if rejected:
        return checks, UserError(f"slime's own parser rejects the plan of {name!r} ({', '.join(rejected)}): "
                                 "see the flag and the fix above")
    return checks, None


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


def torch_dist(hf: str, save: str, slime: str, pythonpath: list[str], nproc_per_node: int, tool_args: list[str],
               nnodes: int = 1, gpus_per_node: int | None = None, ray_address: str | None = None) -> int:
    """The plan's torch-dist step as the scripts run it (torch_dist_job.run): 0 done or skipped, 2 bad input.
    `tool_args` are the model args and the parallel sizes the plan picked (told apart by flag)."""
    model_args, layout_args = split_layout_args(tool_args)
    return run_torch_dist({"hf": hf, "save": save, "slime": slime, "pythonpath": pythonpath, "nnodes": nnodes,
                           "nproc_per_node": nproc_per_node,
                           "gpus_per_node": nproc_per_node if gpus_per_node is None else gpus_per_node,
                           "layout_args": layout_args, "model_args": model_args, "ray_address": ray_address})


def export(run_dir: str, iteration: int | None, dst: str, dry_run: bool = False) -> str:
    """A run's saved iteration -> Hugging Face through slime's tool; the line to print (the command on a dry run)."""
    e = plan_export(run_dir, iteration, dst)
    if dry_run:
        return f"(cd {shlex.quote(e.slime)} && {shlex.join(e.argv(e.dst))})"
    return f"export: wrote {run_export(e)}"
