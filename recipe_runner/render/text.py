"""The plan as a person reads it: summary, warnings, steps, env and train args by group, aligned."""

from __future__ import annotations

import shlex
import textwrap

from recipe_runner.plan import Plan
from recipe_runner.printable import one_line

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
        argv = step.argv if step.name != "submit" else [*step.argv[: step.argv.index("--") + 3], "<train args>"]
        argv = [ENV_PLACEHOLDER if prev == "--runtime-env-json" else a for prev, a in zip(["", *argv[:-1]], argv,
                                                                                              strict=True)]
        where = "" if step.where == "head" else f" [{step.where}]"
        out.append(f"  {i}. {step.name:<11} {step.description}{where}")
        out += _wrap(shlex.join(argv), "       ")
    out += ["", "job env"] + [f"  {k:<36} {_short(v)}" for k, v in plan.env.items()]
    out += ["", "train args (python3 train.py ...)"]
    for group, args in plan.train_arg_groups.items():
        if args:
            lines = _wrap_flags(args, " " * 14)
            out.append(f"  {group:<11} " + lines[0].lstrip())
            out += lines[1:]
    # a value's line breaks and control characters (terminal escapes) are shown escaped, never acted on
    return "\n".join(map(one_line, out)) + "\n"


def _wrap_flags(args: list[str], indent: str) -> list[str]:
    """Wrap an argv at flag boundaries, so a flag stays on the line of its values."""
    chunks: list[list[str]] = []
    for a in args:
        if a.startswith("--") or not chunks:
            chunks.append([])
        chunks[-1].append(a)
    lines, cur = [], indent
    for chunk in map(shlex.join, chunks):
        if cur.strip() and len(cur) + 1 + len(chunk) > WIDTH:
            lines.append(cur)
            cur = indent
        cur = f"{cur} {chunk}" if cur.strip() else cur + chunk
    return [*lines, cur]


def _wrap(text: str, indent: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ",
                         break_on_hyphens=False, break_long_words=False)
