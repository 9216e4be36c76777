"""`list`, `show`, `validate`, `plan`, `new`, `schema`: the recipe catalogue and one recipe's plan."""

from __future__ import annotations

import argparse
import sys

from recipe_runner import api
from recipe_runner.cli.common import EPILOG, add_recipe_args, add_recipes_dir, print_table
from recipe_runner.precision import MODES
from recipe_runner.render import FORMATS, render, warnings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="the recipe catalogue; --groups: the config-group options; --models: the models")
    add_recipes_dir(p)
    p.add_argument("--groups", action="store_true", help="list the config-group options (model=, precision=, "
                   "cluster=, algorithm=, data=) with one-line summaries")
    p.add_argument("--models", action="store_true",
                   help="list the model/ options: family, parameters and the precision modes their shapes allow")
    p.add_argument("--group-size", type=int, choices=(32, 64, 128), default=128,
                   help="INT4 group size for --models (default 128)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="the resolved recipe as YAML, or one subtree: show RECIPE [KEY] [k=v ...]",
                       epilog=EPILOG + " A word without '=' is the KEY, e.g. `show qwen3-30b-a3b-int4 rollout`.")
    add_recipe_args(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("validate", help="validate a recipe: schema and every check", epilog=EPILOG)
    add_recipe_args(p)
    p.add_argument("--strict", action="store_true", help="also refuse warnings and checks that could not run "
                   "here (checkpoints not on this machine)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="conversion step, env vars and launch commands", epilog=EPILOG)
    add_recipe_args(p)
    p.add_argument("--format", choices=sorted(FORMATS), default="text")
    p.add_argument("--out", metavar="DIR", help="also write a run bundle (recipe, plan, scripts, manifest) to DIR")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("new", help="write a recipe of your own from another one (and a checkpoint's config.json)",
                       epilog="Example: new my-qwen3-8b --from qwen3-4b-fp8-rollout --model-config /data/Qwen3-8B "
                       "--recipes-dir team/ cluster=h200-1x8 rollout.batch_size=64")
    p.add_argument("name", metavar="NAME", help="the new recipe's name (NAME.yaml)")
    p.add_argument("overrides", nargs="*", default=[], help="group=option and key=value written into the recipe")
    p.add_argument("--from", dest="base", required=True, metavar="RECIPE", help="the recipe to start from")
    p.add_argument("--model-config", metavar="PATH", help="a checkpoint directory or its config.json: writes "
                   "model/<name>.yaml and points checkpoints.hf at the directory")
    p.add_argument("--recipes-dir", default=".", help="where to write (default: the current directory)")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("schema", help="the JSON Schema of a recipe")
    p.set_defaults(func=cmd_schema)


def cmd_list(args: argparse.Namespace) -> int:
    if args.models:
        rows = api.model_rows(args.group_size, args.recipes_dir)
        head = ("model", "family", "params", "active", *MODES)
        print_table([head] + [(r.option, r.family, f"{r.params / 1e9:.1f}B", f"{r.active / 1e9:.1f}B",
                               *(r.modes[m].label() for m in MODES)) for r in rows])
        print(f"\nmodes: the SGLang engine TP sizes at which the rollout checkpoint's shards fit its format (INT4 "
              f"group {args.group_size}); ep: with --sglang-ep-size = TP, experts whole; no: no engine size fits.\n"
              "INT4 quantizes routed experts only: a dense model's int4-rollout checkpoint keeps BF16 weights.")
    elif args.groups:
        for o in api.group_options(args.recipes_dir):
            print(f"{o.group + '=' + o.option:<28} {o.summary}")
    else:
        cat = api.catalogue(args.recipes_dir)
        head = ("recipe", "model", "mode", "nodes x GPUs", "GPU", "group", "maturity")
        print_table([head] + [(r.recipe, r.model, r.mode, r.layout, r.gpu, r.group_size, r.maturity)
                              for r in cat.rows])
        for name, err in cat.broken:
            print(f"warning: recipe {name!r} left out: {err.render().removeprefix('error: ')}", file=sys.stderr)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    key, overrides = api.split_key(args.overrides)
    sys.stdout.write(api.show(args.recipe, overrides, args.recipes_dir, key))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    recipe, findings = api.validate(args.recipe, args.overrides, args.recipes_dir, args.strict)
    for f in findings:
        print(f"{f.severity}: {f.line()}", file=sys.stderr)
    n = sum(f.severity == "warning" for f in findings)
    print(f"ok: {recipe.name} ({recipe.precision.mode}) is valid" + (f", {n} warning(s)" if n else ""))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    p = api.plan(args.recipe, args.overrides, args.recipes_dir)
    if args.format != "text":
        for w in warnings(p, args.format):
            print(f"warning: {w}", file=sys.stderr)
    sys.stdout.write(render(p, args.format))
    if args.out:
        print(f"bundle: {api.bundle_recipe(args.recipe, args.overrides, args.recipes_dir, args.out)}",
              file=sys.stderr)
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    w = api.new_recipe(args.name, args.base, args.recipes_dir, args.model_config, args.overrides)
    for path in (w.model, w.recipe):
        if path is not None:
            print(f"wrote {path}")
    print(f"ok: {args.name} validates and plans; try: recipe-runner plan {args.name} --recipes-dir {args.recipes_dir}")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(api.json_schema_text())
    return 0
