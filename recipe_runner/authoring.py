"""`new`: a recipe of your own (and a model option) that starts from another recipe, kept only if it plans.

The recipe goes through the one recipe writer (recipe_writer: defaults list, then the fields that differ,
schema comment, never overwrites). A model option is written from a checkpoint's config.json after the
model mapping (models.shape_of) accepts it.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path

import yaml

from recipe_runner.compose import GROUPS, find_recipe
from recipe_runner.errors import user_error
from recipe_runner.models import load_config, shape_of
from recipe_runner.pipeline import plan
from recipe_runner.recipe_writer import recipe_document, write_recipe
from recipe_runner.resolve import resolve


@dataclass(frozen=True)
class Written:
    recipe: Path
    model: Path | None


def new_recipe(name: str, base: str, recipes_dir: str, model_config: str | None = None,
               overrides: list[str] | tuple[str, ...] = ()) -> Written:
    """Write `<recipes_dir>/<name>.yaml` from `base` (+ `model/<option>.yaml` from `model_config`).

    `overrides` (`group=option`, `a.b=value`) are written into the recipe. Nothing stays unless the new
    recipe validates and plans; nothing is overwritten.
    """
    root = Path(recipes_dir)
    find_recipe(base, root if root.is_dir() else None)  # the base must exist (did-you-mean otherwise)
    groups: dict[str, str] = {}
    fields: dict[str, object] = {"description": f"{name}, from {base}", "maturity": "experimental"}
    saved = resolve(base, (), recipes_dir if root.is_dir() else None).recipe.checkpoints
    for key in ("load", "save"):  # a new experiment keeps its own checkpoints
        if getattr(saved, key):
            fields[f"checkpoints.{key}"] = posixpath.join(posixpath.dirname(getattr(saved, key)), name)
    model_file, model_body = None, None
    if model_config:
        option, model_body, hf = _model_option(model_config)
        model_file = root / "model" / f"{option}.yaml"
        if model_file.exists():
            raise user_error(str(model_file), "already exists", rule="new never overwrites",
                             hint="use the existing option (model=...) or remove it")
        groups["model"] = option
        if hf:
            fields |= {"checkpoints.hf": hf, "checkpoints.ref_load": hf + "_torch_dist"}
    for o in overrides:
        key, eq, value = o.partition("=")
        if not eq or key.startswith(("+", "~")):
            raise user_error(o, "new takes key=value and group=option only", hint="edit the written recipe after")
        if key in GROUPS:
            groups[key] = value
        else:
            fields[key] = yaml.safe_load(value)
    written: list[Path] = []
    try:
        if model_file is not None:
            model_file.parent.mkdir(parents=True, exist_ok=True)
            model_file.write_text(yaml.safe_dump(model_body, sort_keys=False))
            written.append(model_file)
        written.append(write_recipe(root, recipe_document(name, base, groups, fields)))
        plan(name, (), str(root))
    except BaseException:
        for f in written:
            f.unlink(missing_ok=True)
        raise
    return Written(written[-1], model_file)


def _model_option(ref: str) -> tuple[str, dict, str | None]:
    """(option name, option body, checkpoint dir or None) for a checkpoint directory or a config.json."""
    path = Path(ref).expanduser().resolve()
    shape_of(load_config(str(path)))  # the one model mapping must accept it
    ckpt = path if path.is_dir() else path.parent if path.name == "config.json" else None
    label = ckpt.name if ckpt else path.stem
    return label.lower(), {"name": label, "config": str(path)}, str(ckpt) if ckpt else None
