"""compose -> spec: a named recipe plus overrides becomes a validated Recipe and its model shape."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from recipe_runner.compose import compose
from recipe_runner.errors import Problem, UserError
from recipe_runner.models import ModelShape, load_config, shape_of
from recipe_runner.secret_policy import refuse_secrets
from recipe_runner.spec import ENV_NAME, NOT_A_FLAG, SLUG, Recipe

PATTERN_RULES = {
    SLUG: "a name: letters, digits, '.', '_', '-', starting with a letter or digit, at most 100 characters "
          "(it names files, jobs and W&B runs)",
    ENV_NAME: "an environment variable name: letters, digits and '_', not starting with a digit",
    NOT_A_FLAG: "a path, not empty and not starting with '-' (it is an argument of the convert step); "
                "write ./-name for such a directory",
}


@dataclass(frozen=True)
class Resolved:
    recipe: Recipe
    shape: ModelShape
    overrides: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.recipe)


def resolve(name: str, overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | Path | None = None) -> Resolved:
    data = compose(name, overrides, recipes_dir)
    refuse_secrets(data)  # before validation, whose messages quote values
    recipe = validate_dict(data)
    shape = shape_of(load_config(recipe.model.config, recipe.model.config_overrides))
    return Resolved(recipe, shape, tuple(overrides))


def validate_dict(data: dict) -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        raise UserError(
            f"recipe {data.get('name', '?')!r} is not valid ({e.error_count()} problem"
            f"{'s' if e.error_count() > 1 else ''})",
            [p for err in e.errors() for p in _problems(err, data)],
        ) from None


def fingerprint(recipe: Recipe) -> str:
    """sha256 of the resolved recipe: same recipe and overrides -> same fingerprint, on any machine."""
    blob = json.dumps(recipe.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def _problems(err: dict, data: dict) -> list[Problem]:
    """A missing block is reported as the fields it lacks (`training.max_tokens_per_gpu`), not the block."""
    loc = [str(p) for p in err["loc"] if not _is_union_tag(p)]
    if err["type"] == "missing" and _model_at(loc) is not None:
        return [Problem(path, "required value is missing", rule="this field has no default",
                        hint=f"set it in the recipe or on the command line: {path}=...")
                for path in _required_leaves(_model_at(loc), ".".join(loc))]
    return [_problem(err, data)]


def _required_leaves(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        if field.is_required():
            ann = field.annotation
            nested = isinstance(ann, type) and issubclass(ann, BaseModel)
            out += _required_leaves(ann, f"{prefix}.{name}") if nested else [f"{prefix}.{name}"]
    return out


def _problem(err: dict, data: dict) -> Problem:
    loc = [str(p) for p in err["loc"] if not _is_union_tag(p)]
    path = ".".join(loc)
    kind = err["type"]
    value = err.get("input")
    if kind == "extra_forbidden":
        siblings = _field_names(loc[:-1])
        close = difflib.get_close_matches(loc[-1], siblings, n=2, cutoff=0.6)
        hint = ("did you mean " + " or ".join(".".join([*loc[:-1], c]) for c in close) + "?") if close else (
            f"remove it; known keys here: {', '.join(siblings)}")
        return Problem(path, "unknown key", rule="recipes may only use keys the schema defines",
                       hint=hint)
    if kind == "missing":
        return Problem(path, "required value is missing", rule="this field has no default",
                       hint=f"set it in the recipe or on the command line: {path}=...")
    ctx = err.get("ctx") or {}
    rule = PATTERN_RULES.get(ctx.get("pattern"), err["msg"])
    field = ".".join(p for p in loc if not p.isdigit() and p != "[key]")  # the list or mapping holding it
    hint = f"use one of {ctx['expected']}" if "expected" in ctx else f"set {field}=<a value that satisfies the rule>"
    return Problem(path, f"invalid value {_shown(value)}", rule=rule, hint=hint)


def _shown(value: object) -> str:
    """The bad value, cut short: a hostile megabyte-long value must not flood the terminal."""
    text = repr(value)
    return text if len(text) <= 120 else text[:100] + f"... ({len(text)} characters)"


def _is_union_tag(part: object) -> bool:
    return isinstance(part, str) and (part.startswith("literal[") or part in ("int", "str", "float", "bool"))


def _model_at(loc: list[str]) -> type[BaseModel] | None:
    """The schema model of the block at `loc`, or None when it is a plain field."""
    model: type[BaseModel] = Recipe
    for part in loc:
        field = model.model_fields.get(part)
        ann = getattr(field, "annotation", None)
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _field_names(loc: list[str]) -> list[str]:
    model = _model_at(loc)
    return list(model.model_fields) if model else []
