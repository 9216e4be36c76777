"""Shipped data (recipes, schemas, model configs, the SGLang flag list), found one way for every install.

`recipes/` and `schemas/` sit at the top of the repository (the catalogue users browse); the package
links them in (`recipe_runner/recipes`, `recipe_runner/schemas` are symlinks) and the wheel carries them
as package data, so a checkout, an editable install and a wheel install all find them through
importlib.resources inside the package.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def shipped(name: str) -> Path:
    """The package's data directory `name` ("recipes", "schemas", "data") on the file system."""
    return Path(str(files("recipe_runner") / name)).resolve()


SCHEMA_FILE = shipped("schemas") / "recipe.schema.json"  # what `recipe-runner schema` prints; editors read it
