"""Sweeps: Hydra multirun overrides (`precision=bf16,fp8-rollout`) -> one plan per combination, one sweep id.

Overrides are parsed by Hydra's own parser, so sweep syntax is Hydra's: `a,b`, `choice(a,b)`,
`range(32,129,32)`, `glob(...)`. slime names a W&B run after its group, so every run keeps its own group
(`{recipe}-{mode}-{fingerprint[:8]}`) and the sweep is found through `wandb.sweep=<id>`, which lands in
config.recipe_runner.sweep and the tag `sweep:<id>`. The id is derived from the recipe and the overrides, so
planning the same sweep twice gives the same id. `write_bundles` writes one run bundle per combination (bundle.py);
`launch_sweep` submits the plans through launch.py, one after another or all at once (detached).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recipe_runner.bundle import files, inside, publish, write_files
from recipe_runner.errors import UserError, user_error
from recipe_runner.launch import Options, connect, job_status, launch, resolve_target, submission_id
from recipe_runner.limits import check_sweep_size
from recipe_runner.pipeline import check
from recipe_runner.plan import Plan, build_plan
from recipe_runner.spec import SLUG
from recipe_runner.tracking import SWEEP_TAG, run_name

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

    from recipe_runner.resolve import Resolved


@dataclass(frozen=True)
class SweepRun:
    overrides: tuple[str, ...]  # this combination's overrides, as the user would type them
    plan: Plan
    resolved: Resolved  # its overrides include the sweep's `wandb.sweep=...`, so a bundle reproduces the plan

    @property
    def name(self) -> str:
        """The W&B run name, which slime takes from the run's group."""
        return run_name(self.resolved.recipe)


@dataclass(frozen=True)
class Sweep:
    recipe: str
    id: str
    runs: tuple[SweepRun, ...]

    def to_dict(self) -> dict:
        return {"recipe": self.recipe, "sweep": self.id,
                "runs": [{"overrides": list(r.overrides), "plan": r.plan.to_dict()} for r in self.runs]}


def expand(overrides: list[str] | tuple[str, ...]) -> list[tuple[str, ...]]:
    """The cartesian product of the sweep overrides, other overrides repeated in each combination."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except OverrideParseException as e:  # names the override it could not parse (hydra-core 1.3 hydra/errors.py)
        raise user_error(e.override, f"cannot parse: {e.message.splitlines()[0]}",
                         rule="Hydra override grammar; sweeps are key=a,b or key=range(start,stop,step)",
                         title="invalid sweep") from None
    if not any(o.is_sweep_override() for o in parsed):
        raise user_error("overrides", "no override sweeps over values", rule="a sweep has a key=a,b override",
                         hint="e.g. precision=bf16,fp8-rollout,int4-qat (or use `plan` for one run)",
                         title="invalid sweep")
    check_sweep_size(math.prod(_count(o) for o in parsed))  # before a range is enumerated
    axes = [_values(o) for o in parsed]
    check_sweep_size(math.prod(map(len, axes)))
    return [tuple(c) for c in itertools.product(*axes)]


def _count(o) -> int:
    """How many values an override sweeps over, without enumerating a range."""
    from hydra.core.override_parser.types import ChoiceSweep, RangeSweep

    if not o.is_sweep_override():
        return 1
    v = o.value()
    if isinstance(v, RangeSweep) and v.step:
        return max(0, math.ceil((v.stop - v.start) / v.step))
    if isinstance(v, ChoiceSweep):
        return len(v.list)
    return 1  # glob(...): a finite list of the values it filters


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


def sweep_id(recipe: str, overrides: list[str] | tuple[str, ...]) -> str:
    digest = hashlib.sha256("\0".join([recipe, *overrides]).encode()).hexdigest()
    return f"{recipe}-sweep-{digest[:6]}"


def sweep(recipe: str, overrides: list[str] | tuple[str, ...], recipes_dir: str | None = None,
          sweep_name: str | None = None) -> Sweep:
    """Plan every combination; all carry the sweep id, so `compare --sweep ID` finds them together."""
    sid = sweep_name or sweep_id(recipe, overrides)
    if not re.fullmatch(SLUG, sid):  # it is pasted into an override and a W&B tag
        raise user_error("--id", f"{sid!r} is not a sweep id", rule="a sweep id is a slug: letters, digits, "
                         "'.', '_', '-', starting with a letter or digit", hint="e.g. --id int4-sweep-1",
                         title="invalid sweep")
    runs = []
    for combo in expand(overrides):
        try:
            resolved, findings = check(recipe, [*combo, f"wandb.sweep={sid}"], recipes_dir)
        except UserError as e:
            raise UserError(f"sweep run {' '.join(combo)}: {e.title}", e.problems) from None
        runs.append(SweepRun(combo, build_plan(resolved, findings), resolved))
    _check_distinct(runs)
    return Sweep(recipe, sid, tuple(runs))


def _check_distinct(runs: list[SweepRun]) -> None:
    """Two runs with one name would share a W&B name, bundle directory and Ray submission id."""
    seen: dict[str, SweepRun] = {}
    for r in runs:
        if r.name in seen:
            same_recipe = seen[r.name].plan.fingerprint == r.plan.fingerprint
            raise user_error("overrides", f"{' '.join(seen[r.name].overrides)!r} and {' '.join(r.overrides)!r} "
                             + ("resolve to the same recipe" if same_recipe else f"share the W&B group {r.name}"),
                             rule="every combination of a sweep is a different run, and slime names a W&B run "
                             "after its group", hint="drop the repeated value" if same_recipe else
                             "drop wandb.group: each run then gets its own; the sweep id groups them",
                             title="invalid sweep")
        seen[r.name] = r


def render_text(s: Sweep) -> str:
    lines = [f"sweep {s.recipe}: {len(s.runs)} runs, sweep id {s.id} (W&B tag {SWEEP_TAG}{s.id})"]
    lines += [f"  {r.name}  {' '.join(r.overrides)}" for r in s.runs]
    return "\n".join(lines) + "\n"


# ---- --out: one bundle per run ------------------------------------------------------------------------------------

def write_bundles(s: Sweep, out: str | Path, recipes_dir: str | None) -> list[Path]:
    """OUT/<run name>/ per run, OUT written whole (bundle.publish): a second sweep to OUT gets exit 2."""
    out = Path(out).resolve()
    dirs = [inside(out, r.name) for r in s.runs]

    def fill(tmp: Path) -> None:
        for r, d in zip(s.runs, dirs, strict=True):
            sub = inside(tmp, d.name)
            sub.mkdir()
            write_files(sub, files(r.resolved, r.plan, d, recipes_dir, sys.argv))

    publish(out, fill)
    return dirs


# ---- --launch: submit the plans ---------------------------------------------------------------------------------

def launch_sweep(s: Sweep, address: str | None, dry_run: bool, parallel: bool) -> int:
    """In sequence: follow each job to its end, stop at the first failure. Parallel: submit all detached."""
    if dry_run:
        return _dry_run(s, address)
    return _launch_parallel(s, address) if parallel else _launch_in_sequence(s, address)


def _dry_run(s: Sweep, address: str | None) -> int:
    for r in s.runs:
        launch(r.resolved, r.plan, Options(address, dry_run=True))
    return 0


def _launch_in_sequence(s: Sweep, address: str | None) -> int:
    for i, r in enumerate(s.runs, 1):
        print(f"sweep {s.id}: run {i}/{len(s.runs)} {r.name}")
        code = launch(r.resolved, r.plan, Options(address))
        if code:
            print(f"sweep {s.id}: run {r.name} failed (exit {code}); {len(s.runs) - i} not launched",
                  file=sys.stderr)
            return code
    return 0


def _launch_parallel(s: Sweep, address: str | None) -> int:
    """Submit every plan detached to one target; a local head started for the first one takes them all."""
    target = resolve_target(s.runs[0].plan, address)
    for r in s.runs:
        code = launch(r.resolved, r.plan, Options(address, detach=True))
        if code:
            return code
        address = target.address
    client = connect(target.address)
    print(f"sweep {s.id}: {len(s.runs)} jobs submitted to {target.address}")
    for r in s.runs:
        print(latest_submission(client, r.plan))
    return 0


def latest_submission(client: JobSubmissionClient, plan: Plan) -> str:
    """The id launch.submit gave the plan's job: its base id, or the last `-rN` it took (ids are taken in order)."""
    base = submission_id(plan)
    n = 2
    while job_status(client, f"{base}-r{n}") is not None:
        n += 1
    return base if n == 2 else f"{base}-r{n - 1}"
