"""Plan -> text. Every renderer is a pure function `(plan) -> str`; FORMATS is the one registry."""

from __future__ import annotations

from collections.abc import Callable

from recipe_runner.plan import Plan
from recipe_runner.render import json_format, rayjob, sbatch, shell, text

FORMATS: dict[str, Callable[[Plan], str]] = {
    "text": text.render,
    "json": json_format.render,
    "shell": shell.render,
    "rayjob": rayjob.render,
    "sbatch": sbatch.render,
}


def render(plan: Plan, fmt: str) -> str:
    return FORMATS[fmt](plan)
