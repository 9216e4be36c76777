"""`estimate`, `explain`, `diff`, `recommend`: what a recipe needs and sets, before anything runs."""

from __future__ import annotations

import argparse
import json
import sys

from recipe_runner import api
from recipe_runner.cli.common import EPILOG, add_overrides, add_recipe, add_recipes_dir
from recipe_runner.precision import MODES
from recipe_runner.recommend import Request, as_dict, text

RECOMMEND_EPILOG = ("Exit codes: 0 ranked rows printed; 2 nothing fits (the binding constraint is named) or bad "
                    "input. The index is relative throughput from first principles (docs/recommend.md), not seconds.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="per-GPU memory for training and rollout; KV-cache tokens per engine",
                       epilog=EPILOG)
    add_recipe(p)
    add_overrides(p)
    p.add_argument("--modes", type=lambda v: [m for m in v.split(",") if m],
                   help="precision modes side by side, e.g. bf16,fp8-rollout,int4-rollout")
    add_recipes_dir(p)
    p.set_defaults(func=cmd_estimate)

    p = sub.add_parser("explain", help="which file, group option or override set a value", epilog=EPILOG)
    add_recipe(p)
    p.add_argument("key", help="dotted field path, e.g. rollout.temperature")
    add_overrides(p)
    add_recipes_dir(p)
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("diff", help="resolved-config and plan difference of two recipes or override sets",
                       epilog=EPILOG + " Example: diff R R -R precision.group_size=32")
    p.add_argument("left", help="the left recipe")
    p.add_argument("right", help="the right recipe")
    add_overrides(p, help="overrides for both sides")
    p.add_argument("-L", "--left", dest="left_overrides", action="append", default=[], metavar="K=V",
                   help="an override for the left side only (repeatable)")
    p.add_argument("-R", "--right", dest="right_overrides", action="append", default=[], metavar="K=V",
                   help="an override for the right side only (repeatable)")
    add_recipes_dir(p)
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("recommend", help="rank the precision modes and layouts that fit a model on a cluster",
                       epilog=RECOMMEND_EPILOG)
    p.add_argument("model", nargs="?", help="a model option (model/ group), e.g. qwen3-235b-a22b")
    p.add_argument("--model-config", metavar="PATH", help="a config.json (or its directory) instead of MODEL")
    p.add_argument("--gpus", required=True, metavar="GPU", help="GPU kind from the hardware table, e.g. H100")
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--gpus-per-node", type=int, default=8)
    p.add_argument("--modes", type=_modes, default=list(MODES), help="comma-separated; default: every mode")
    p.add_argument("--headroom", type=float, default=0.1,
                   help="fraction of HBM kept free beyond the training estimate (default 0.1)")
    p.add_argument("--top", type=int, default=5, help="rows to show (default 5)")
    p.add_argument("--write", metavar="DIR", help="write the best row as a recipe into DIR (validated)")
    add_recipes_dir(p)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_recommend)


def cmd_estimate(args: argparse.Namespace) -> int:
    sys.stdout.write(api.estimate_table(args.recipe, args.overrides, args.modes, args.recipes_dir))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    sys.stdout.write(api.explain(args.recipe, args.key, args.overrides, args.recipes_dir).text())
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    result = api.diff(args.left, args.right, args.overrides + args.left_overrides,
                      args.overrides + args.right_overrides, args.recipes_dir)
    sys.stdout.write(result.text())
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    request = Request(args.gpus, args.nodes, args.gpus_per_node, tuple(args.modes), args.headroom, args.top)
    rec, written = api.recommend(args.model, request, args.model_config, args.recipes_dir, args.write)
    if args.format == "json":
        print(json.dumps(as_dict(rec) | {"written": str(written) if written else None}, indent=2))
    else:
        sys.stdout.write(text(rec))
    if written:
        print(f"wrote {written} (validated; plan it with: recipe-runner plan {written.stem} "
              f"--recipes-dir {written.parent})", file=sys.stderr)
    return 0


def _modes(value: str) -> list[str]:
    modes = [m for m in value.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"unknown mode(s) {', '.join(unknown) or value!r}; "
                                         f"choose from {', '.join(MODES)}")
    return modes
