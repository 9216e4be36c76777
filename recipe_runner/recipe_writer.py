"""The one recipe writer: a recipe file from structured data, through a YAML dumper, validated after writing.

Used by `recommend --write` (and any command that emits a recipe). The file starts from a parent recipe
(`defaults: [PARENT, override GROUP: OPTION, _self_]`) and sets only the fields that differ, so it stays
short and reads like a hand-written recipe.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import yaml

from recipe_runner.errors import user_error
from recipe_runner.resources import SCHEMA_FILE

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def recipe_document(name: str, parent: str, group_options: dict[str, str], fields: dict[str, object]) -> dict:
    """The recipe as data: defaults list first, then `name` and the nested fields."""
    defaults: list[object] = [parent, *({f"override {g}": o} for g, o in group_options.items()), "_self_"]
    body: dict[str, object] = {"defaults": defaults, "name": name}
    for key, value in fields.items():
        node = body
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[last] = value
    return body


def write_recipe(directory: str | Path, document: dict) -> Path:
    """Write `<directory>/<name>.yaml` atomically; refuse to overwrite an existing file."""
    name = str(document.get("name", ""))
    if not NAME.match(name):
        raise user_error("name", f"{name!r} is not a recipe name", rule="lower-case letters, digits, '.', '_', '-'",
                         hint="pick a name like my-qwen3-8b-fp8")
    target = Path(directory) / f"{name}.yaml"
    exists = user_error(str(target), "already exists", rule="the writer never overwrites a recipe",
                        hint="remove it or pick another name")
    if target.exists():
        raise exists
    text = _schema_comment() + yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=110)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
    except OSError as e:
        raise user_error(str(target.parent), f"cannot write here: {e.strerror or e}",
                         hint="pass a writable directory") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.link(tmp, target)  # fails if another writer got there first: never overwrites
    except FileExistsError:
        raise exists from None
    except OSError as e:
        raise user_error(str(target), f"cannot write: {e.strerror or e}", hint="pass a writable directory") from None
    finally:
        os.unlink(tmp)
    return target


def _schema_comment() -> str:
    """Editors (yaml-language-server) autocomplete the recipe from the installed schema."""
    return f"# yaml-language-server: $schema={SCHEMA_FILE.as_uri()}\n"
