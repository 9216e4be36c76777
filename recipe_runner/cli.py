"""Thin command layer: parse arguments, call one library function, print, return the exit code.

Exit codes (DESIGN.md): 0 success; 2 invalid recipe, override or input; 1 a failure while running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from recipe_runner import __version__
from recipe_runner.errors import RunError, UserError

EPILOG = "Overrides use Hydra's grammar: key=value, group=option (precision=fp8-full), +key=value, ~key, key=[a,b]."


def _recipe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe name (see `recipe-runner list`)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. cluster.nodes=2 precision=int4-rollout")
    p.add_argument("--recipes-dir", help="an extra directory of recipes and config-group options (searched first)")


def cmd_list(args: argparse.Namespace) -> int:
    from recipe_runner.api import catalogue

    rows = catalogue(args.recipes_dir)
    head = ("recipe", "model", "mode", "nodes x GPUs", "GPU", "group", "maturity")
    table = [head] + [(r.recipe, r.model, r.mode, r.layout, r.gpu, r.group_size, r.maturity) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from recipe_runner.api import show

    sys.stdout.write(show(args.recipe, args.overrides, args.recipes_dir))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from recipe_runner.api import check

    resolved, findings = check(args.recipe, args.overrides, args.recipes_dir)
    for f in findings:
        print(f"{f.severity}: {f.line()}", file=sys.stderr)
    n = sum(f.severity == "warning" for f in findings)
    print(f"ok: {resolved.recipe.name} ({resolved.recipe.precision.mode}) is valid"
          + (f", {n} warning(s)" if n else ""))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from recipe_runner.api import plan
    from recipe_runner.render import render

    p = plan(args.recipe, args.overrides, args.recipes_dir)
    if args.format != "text":
        for w in p.warnings:
            print(f"warning: {w}", file=sys.stderr)
    sys.stdout.write(render(p, args.format))
    if args.out:
        from recipe_runner.bundle import bundle_recipe

        print(f"bundle: {bundle_recipe(args.recipe, args.overrides, args.recipes_dir, args.out)}", file=sys.stderr)
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from recipe_runner.api import json_schema_text

    sys.stdout.write(json_schema_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from recipe_runner.render import FORMATS

    parser = argparse.ArgumentParser(prog="recipe-runner", description="Declarative low-precision RL recipes "
                                     "for slime: compose, validate, plan, convert, launch.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"recipe-runner {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the recipe catalogue")
    p.add_argument("--recipes-dir", help="an extra directory of recipes")
    p.set_defaults(func=cmd_list)

    for name, func, help_ in (("show", cmd_show, "the resolved recipe as YAML"),
                              ("validate", cmd_validate, "validate a recipe: schema and every check")):
        p = sub.add_parser(name, help=help_, epilog=EPILOG)
        _recipe_args(p)
        p.set_defaults(func=func)

    p = sub.add_parser("plan", help="conversion step, env vars and launch commands", epilog=EPILOG)
    _recipe_args(p)
    p.add_argument("--format", choices=sorted(FORMATS), default="text")
    p.add_argument("--out", metavar="DIR", help="also write a run bundle (recipe, plan, scripts, manifest) to DIR")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("schema", help="the JSON Schema of a recipe")
    p.set_defaults(func=cmd_schema)

    _register_optional(sub)
    return parser


def _register_optional(sub: argparse._SubParsersAction) -> None:
    """Commands of the heavier parts register themselves; they import their heavy deps lazily."""
    from recipe_runner import launch_cli, preflight_cli, recommend_cli, tracking_cli

    preflight_cli.register(sub)
    recommend_cli.register(sub)
    tracking_cli.register(sub)
    launch_cli.register(sub)
    from recipe_runner.quant import commands as quant_commands

    quant_commands.register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    try:  # Ctrl-C while the commands' modules load is an interrupt too, not a traceback
        args = build_parser().parse_args(argv)
        return args.func(args)
    except UserError as e:
        print(e.render(), file=sys.stderr)
        return e.exit_code
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
