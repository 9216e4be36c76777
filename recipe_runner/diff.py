"""`diff`: the resolved-config difference and the plan difference (train flags, env, steps) of two recipes,
or of one recipe under two override sets.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipe_runner.compose import flatten_keys
from recipe_runner.pipeline import plan
from recipe_runner.plan import Plan
from recipe_runner.resolve import resolve
from recipe_runner.steps import Job


@dataclass(frozen=True)
class Change:
    section: str  # config | flag | env | step
    key: str
    left: object  # None = absent
    right: object


@dataclass(frozen=True)
class Diff:
    left: str
    right: str
    changes: tuple[Change, ...]

    def text(self) -> str:
        if not self.changes:
            return f"no difference between {self.left} and {self.right}\n"
        lines = [f"--- {self.left}", f"+++ {self.right}"]
        for c in self.changes:
            lines.append(f"{c.section:6} {c.key}: {_show(c.left)} -> {_show(c.right)}")
        return "\n".join(lines) + "\n"


def diff(left: str, right: str, left_overrides: list[str] | tuple[str, ...] = (),
         right_overrides: list[str] | tuple[str, ...] = (), recipes_dir: str | None = None) -> Diff:
    a = resolve(left, left_overrides, recipes_dir).recipe.model_dump(mode="json")
    b = resolve(right, right_overrides, recipes_dir).recipe.model_dump(mode="json")
    pa, pb = plan(left, left_overrides, recipes_dir), plan(right, right_overrides, recipes_dir)
    changes = [*_changes("config", _leaves(a), _leaves(b)), *_changes("flag", flags(pa), flags(pb)),
               *_changes("env", pa.env, pb.env), *_changes("step", _steps(pa), _steps(pb))]
    return Diff(_label(left, left_overrides), _label(right, right_overrides), tuple(changes))


def flags(p: Plan) -> dict[str, str]:
    """train.py's flags -> their values joined ('' for a bare flag)."""
    return {flag: " ".join(values) for flag, values in p.train.flags().items()}


def _steps(p: Plan) -> dict[str, str]:
    """Step name -> its command, except the job's (its flags and env are compared above)."""
    return {s.name: " ".join(s.argv) for s in p.steps if not isinstance(s, Job)}


def _leaves(tree: dict) -> dict[str, object]:
    out = {}
    for key in flatten_keys(tree):
        node: object = tree
        for part in key.split("."):
            node = node[part]  # type: ignore[index]
        if not isinstance(node, dict) or not node:
            out[key] = node
    return out


def _changes(section: str, a: dict, b: dict) -> list[Change]:
    return [Change(section, k, a.get(k), b.get(k)) for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]


def _label(name: str, overrides: list[str] | tuple[str, ...]) -> str:
    return " ".join([name, *overrides])


def _show(v: object) -> str:
    return "(absent)" if v is None else repr(v) if not isinstance(v, str) else v or "(flag)"
