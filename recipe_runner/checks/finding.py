"""A finding: what a rule says about a recipe, phrased as field path, message and fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from recipe_runner.errors import Problem


@dataclass(frozen=True)
class Finding:
    rule: str  # short rule id, e.g. "layout.world-divisible"
    severity: Literal["error", "warning", "note"]  # note: not checked here, or what the image needs
    path: str  # dotted field path
    message: str
    hint: str = ""
    source: str = ""  # upstream rule it mirrors: its @rule source, unless the finding cites a more specific one

    def problem(self) -> Problem:
        rule = f"{self.rule}" + (f" ({self.source})" if self.source else "")
        return Problem(self.path, self.message, rule=rule, hint=self.hint)

    def line(self) -> str:
        return f"{self.path}: {self.message}" + (f" -- {self.hint}" if self.hint else "")


def error(rule: str, path: str, message: str, hint: str = "", source: str = "") -> Finding:
    return Finding(rule, "error", path, message, hint, source)


def warning(rule: str, path: str, message: str, hint: str = "", source: str = "") -> Finding:
    return Finding(rule, "warning", path, message, hint, source)


def note(rule: str, path: str, message: str, hint: str = "", source: str = "") -> Finding:
    """Information `validate` prints (what was not checked here, what the image needs); never in a plan."""
    return Finding(rule, "note", path, message, hint, source)
