"""`new`: write a recipe (and a model option) that starts from another recipe, validated before it stays.

The one recipe writer: YAML from structured data (a defaults list, then the recipe's own keys), with the
schema comment editors read. A model option is written from a checkpoint's config.json after the model
mapping (models.shape_of) accepts it.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from recipe_runner.compose import GROUPS, find_recipe
from recipe_runner.errors import user_error
from recipe_runner.models import load_config, shape_of
from recipe_runner.resources import shipped


@dataclass(frozen=True)
class Written:
    recipe: Path
    model: Path | None


def write_recipe(path: Path, defaults: list, body: dict, comment: str = "") -> None:
    """A recipe file: the schema comment, a comment line, the defaults list, then the recipe's keys."""
    schema = os.path.relpath(shipped("schemas") / "recipe.schema.json", path.parent.resolve())
    head = f"# yaml-language-server: $schema={schema}\n" + (f"# {comment}\n" if comment else "")
    text = yaml.safe_dump({"defaults": defaults}, sort_keys=False) + "\n" + yaml.safe_dump(body, sort_keys=False)
    path.write_text(head + text)


def new_recipe(name: str, base: str, recipes_dir: str, model_config: str | None = None,
               overrides: list[str] | tuple[str, ...] = ()) -> Written:
    """Write `<recipes_dir>/<name>.yaml` from `base` (+ a model option from `model_config`); check and plan it.

    Refuses to overwrite; removes what it wrote when the new recipe does not validate.
    """
    from recipe_runner.api import plan
    from recipe_runner.resolve import resolve

    if not re.fullmatch(r"[A-Za-z0-9][\w.-]*", name):
        raise user_error("NAME", f"{name!r} is not a recipe name", rule="letters, digits, '.', '_' and '-'",
                         hint="e.g. my-qwen3-8b")
    root = Path(recipes_dir)
    root.mkdir(parents=True, exist_ok=True)
    find_recipe(base, root)  # the base must exist (did-you-mean otherwise)
    recipe_file = root / f"{name}.yaml"
    defaults: list = [base]
    body: dict = {"name": name, "description": f"{name}, from {base}", "maturity": "experimental"}
    model_file = None
    if model_config:
        option, model_body, hf = _model_option(model_config)
        model_file = root / "model" / f"{option}.yaml"
        defaults.append({"override model": option})
        body["checkpoints"] = {"hf": hf, "ref_load": hf + "_torch_dist"} if hf else {}
    for target in (recipe_file, model_file):
        if target is not None and target.exists():
            raise user_error(str(target), "already exists", rule="new never overwrites",
                             hint="choose another NAME, or edit the file")
    saved = resolve(base, (), root).recipe.checkpoints
    for key in ("load", "save"):
        if getattr(saved, key):
            body.setdefault("checkpoints", {})[key] = posixpath.join(posixpath.dirname(getattr(saved, key)), name)
    for o in overrides:
        _apply(o, defaults, body)
    defaults.append("_self_")
    written = []
    try:
        if model_file is not None:
            model_file.parent.mkdir(exist_ok=True)
            model_file.write_text(yaml.safe_dump(model_body, sort_keys=False))
            written.append(model_file)
        write_recipe(recipe_file, defaults, body, comment=f"Made by `recipe-runner new {name} --from {base}`.")
        written.append(recipe_file)
        plan(name, (), str(root))
    except BaseException:
        for f in written:
            f.unlink(missing_ok=True)
        raise
    return Written(recipe_file, model_file)


def _model_option(ref: str) -> tuple[str, dict, str | None]:
    """(option name, model option body, checkpoint dir or None) for a config.json or checkpoint directory."""
    path = Path(ref).expanduser().resolve()
    shape_of(load_config(str(path)))  # the one model mapping must accept it
    ckpt = path if path.is_dir() else path.parent if path.name == "config.json" else None
    label = ckpt.name if ckpt else path.stem
    return label.lower(), {"name": label, "config": str(path)}, str(ckpt) if ckpt else None


def _apply(override: str, defaults: list, body: dict) -> None:
    """`group=option` -> an `override group: option` default; `a.b=v` -> body a: {b: v} (YAML value)."""
    key, eq, value = override.partition("=")
    if not eq or key.startswith(("+", "~")):
        raise user_error(override, "new takes key=value and group=option only",
                         hint="edit the written recipe for anything else")
    if key in GROUPS:
        defaults[:] = [d for d in defaults if d != {f"override {key}": value}] + [{f"override {key}": value}]
        return
    node = body
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = yaml.safe_load(value)
