"""Pre-flight commands: `estimate`, `explain`, `diff`. Thin: parse, call one function, print."""

from __future__ import annotations

import argparse
import sys

EPILOG = "Overrides use Hydra's grammar: key=value, group=option (precision=fp8-full), +key=value, ~key."


def cmd_estimate(args: argparse.Namespace) -> int:
    from recipe_runner.estimate import estimate_modes, table

    sys.stdout.write(table(estimate_modes(args.recipe, args.overrides, args.modes, args.recipes_dir)))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from recipe_runner.explain import explain

    sys.stdout.write(explain(args.recipe, args.key, args.overrides, args.recipes_dir).text())
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from recipe_runner.diff import diff

    result = diff(args.left, args.right, args.overrides + args.left_overrides,
                  args.overrides + args.right_overrides, args.recipes_dir)
    sys.stdout.write(result.text())
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="per-GPU memory for training and rollout; KV-cache tokens per engine",
                       epilog=EPILOG)
    p.add_argument("recipe")
    p.add_argument("overrides", nargs="*", default=[], help="Hydra overrides")
    p.add_argument("--modes", type=lambda v: [m for m in v.split(",") if m],
                   help="precision modes side by side, e.g. bf16,fp8-rollout,int4-rollout")
    p.add_argument("--recipes-dir")
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("explain", help="which file, group option or override set a value", epilog=EPILOG)
    p.add_argument("recipe")
    p.add_argument("key", help="dotted field path, e.g. rollout.temperature")
    p.add_argument("overrides", nargs="*", default=[], help="Hydra overrides")
    p.add_argument("--recipes-dir")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("diff", help="resolved-config and plan difference of two recipes or override sets",
                       epilog=EPILOG + " Example: diff R R -R precision.group_size=32")
    p.add_argument("left")
    p.add_argument("right")
    p.add_argument("overrides", nargs="*", default=[], help="overrides for both sides")
    p.add_argument("-L", "--left", dest="left_overrides", action="append", default=[], metavar="K=V",
                   help="an override for the left side only (repeatable)")
    p.add_argument("-R", "--right", dest="right_overrides", action="append", default=[], metavar="K=V",
                   help="an override for the right side only (repeatable)")
    p.add_argument("--recipes-dir")
    p.set_defaults(func=cmd_diff)
