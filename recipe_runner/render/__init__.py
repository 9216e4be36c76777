"""Plan -> text. Every renderer is a pure function `(plan) -> str`; FORMATS is the one registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from recipe_runner.plan import Plan
from recipe_runner.render import json_format, rayjob, sbatch, shell, text

FORMATS: dict[str, Callable[[Plan], str]] = {
    "text": text.render,
    "json": json_format.render,
    "shell": shell.render,
    "rayjob": rayjob.render,
    "sbatch": sbatch.render,
}


# Recipe fields a format fills in at run time, so warnings about them do not apply there: the sbatch
# script asks Slurm for the head node's IP, and KubeRay's operator connects the workers to the head.
RUNTIME_FIELDS = {"sbatch": ("cluster.ray.head_ip",), "rayjob": ("cluster.ray.head_ip",)}


def warnings(plan: Plan, fmt: str) -> list[str]:
    """The plan's warnings that apply to this format (a warning line starts with its field path)."""
    return [w for w in plan.warnings if w.split(":", 1)[0] not in RUNTIME_FIELDS.get(fmt, ())]


def render(plan: Plan, fmt: str) -> str:
    return FORMATS[fmt](replace(plan, warnings=warnings(plan, fmt)))
