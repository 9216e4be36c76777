"""Sweeps: Hydra multirun overrides (`precision=bf16,fp8-rollout`) -> one plan per combination, one W&B group.

Overrides are parsed by Hydra's own parser, so sweep syntax is Hydra's: `a,b`, `choice(a,b)`,
`range(32,129,32)`, `glob(...)`. The group is derived from the recipe and the overrides, so planning the
same sweep twice names the same group.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

from recipe_runner.errors import UserError, user_error
from recipe_runner.plan import Plan
from recipe_runner.tracking import name_for


@dataclass(frozen=True)
class SweepRun:
    overrides: tuple[str, ...]  # this combination's overrides, as the user would type them
    plan: Plan


@dataclass(frozen=True)
class Sweep:
    recipe: str
    group: str
    runs: tuple[SweepRun, ...]

    def to_dict(self) -> dict:
        return {"recipe": self.recipe, "group": self.group,
                "runs": [{"overrides": list(r.overrides), "plan": r.plan.to_dict()} for r in self.runs]}


def expand(overrides: list[str] | tuple[str, ...]) -> list[tuple[str, ...]]:
    """The cartesian product of the sweep overrides, other overrides repeated in each combination."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as e:
        raise user_error("overrides", f"cannot parse: {str(e).splitlines()[0]}",
                         rule="Hydra override grammar; sweeps are key=a,b or key=range(start,stop,step)",
                         title="invalid sweep") from None
    axes = [_values(o) for o in parsed]
    if not any(o.is_sweep_override() for o in parsed):
        raise user_error("overrides", "no override sweeps over values", rule="a sweep has a key=a,b override",
                         hint="e.g. precision=bf16,fp8-rollout,int4-qat (or use `plan` for one run)",
                         title="invalid sweep")
    return [tuple(c) for c in itertools.product(*axes)]


def _values(o) -> list[str]:
    if not o.is_sweep_override():
        return [o.input_line]
    key = o.get_key_element()
    try:
        return [f"{key}={v}" for v in o.sweep_string_iterator()]
    except Exception:  # Hydra raises plain errors for interval() and other non-enumerable sweeps
        raise user_error(key, f"cannot enumerate {o.input_line!r}",
                         rule="sweeps need a finite list: a,b,c | choice(...) | range(...)",
                         title="invalid sweep") from None


def sweep_group(recipe: str, overrides: list[str] | tuple[str, ...]) -> str:
    digest = hashlib.sha256("\0".join([recipe, *overrides]).encode()).hexdigest()
    return f"{recipe}-sweep-{digest[:6]}"


def sweep(recipe: str, overrides: list[str] | tuple[str, ...], recipes_dir: str | None = None,
          group: str | None = None) -> Sweep:
    """Plan every combination; all share `group` (W&B group), so `compare --group` finds them together."""
    from recipe_runner.api import plan

    group = group or sweep_group(recipe, overrides)
    runs = []
    for combo in expand(overrides):
        try:
            runs.append(SweepRun(combo, plan(recipe, [*combo, f"wandb.group={group}"], recipes_dir)))
        except UserError as e:
            raise UserError(f"sweep run {' '.join(combo)}: {e.title}", e.problems) from None
    return Sweep(recipe, group, tuple(runs))


def render_text(s: Sweep) -> str:
    lines = [f"sweep {s.recipe}: {len(s.runs)} runs, W&B group {s.group}"]
    lines += [f"  {name_for(r.plan.recipe, r.plan.mode, r.plan.fingerprint)}  {' '.join(r.overrides)}" for r in s.runs]
    return "\n".join(lines) + "\n"
