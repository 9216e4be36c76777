"""The plan as a person reads it: summary, warnings, steps, env and train args by group, aligned."""

from __future__ import annotations

import shlex
import textwrap

from recipe_runner.plan import Plan
from recipe_runner.printable import one_line
from recipe_runner.steps import Arg, Job, Step

WIDTH = 100
LONG = 60  # env values longer than this (W&B notes carry the resolved recipe) are cut; --format json has them
ENV_PLACEHOLDER = "<job env below>"


def _short(value: str) -> str:
    first = value.splitlines()[0] if value else value
    if len(first) <= LONG and first == value:
        return value
    return f"{first[:LONG]} ... ({len(value)} characters; see --format json)"


def render(plan: Plan) -> str:
    out = [f"recipe       {plan.recipe}", f"mode         {plan.mode}",
           f"cluster      {plan.nodes} node(s) x {plan.gpus_per_node} GPUs, Ray at {plan.dashboard_address}",
           f"rollout ckpt {plan.rollout_checkpoint}", f"fingerprint  {plan.fingerprint[:16]}"]
    if plan.warnings:
        out += ["", "warnings"] + [f"  ! {w}" for w in plan.warnings]
    out += ["", "steps"]
    for i, step in enumerate(plan.steps, 1):
        argv = _shown(step)
        where = "" if step.where == "head" else f" [{step.where}]"
        out.append(f"  {i}. {step.name:<11} {step.description}{where}")
        out += _wrap(shlex.join(argv), "       ")
    out += ["", "job env"] + [f"  {k:<36} {_short(v)}" for k, v in plan.env.items()]
    out += ["", "train args (python3 train.py ...)"]
    for group, args in plan.train.groups:
        if args:
            lines = _wrap_flags(args, " " * 14)
            out.append(f"  {group:<11} " + lines[0].lstrip())
            out += lines[1:]
    # a value's line breaks and control characters (terminal escapes) are shown escaped, never acted on
    return "\n".join(map(one_line, out)) + "\n"


def _shown(step: Step) -> list[str]:
    """The step's command; the job's env and train args are shown in their own sections below."""
    if isinstance(step, Job):
        return [*step.submit_argv(ENV_PLACEHOLDER), "python3", step.script, "<train args>"]
    return step.argv


def _wrap_flags(args: tuple[Arg, ...], indent: str) -> list[str]:
    """Wrap train args at flag boundaries, so a flag stays on the line of its values."""
    lines, cur = [], indent
    for chunk in (shlex.join(a.argv) for a in args):
        if cur.strip() and len(cur) + 1 + len(chunk) > WIDTH:
            lines.append(cur)
            cur = indent
        cur = f"{cur} {chunk}" if cur.strip() else cur + chunk
    return [*lines, cur]


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False, break_long_words=False)
