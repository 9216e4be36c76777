"""`sweep` and `compare`: many runs of a recipe, planned together; their W&B records side by side."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recipe_runner import api
from recipe_runner.cli.common import add_overrides, add_recipe, add_recipes_dir
from recipe_runner.errors import user_error

SWEEP_EPILOG = ("Comma-separated values sweep (Hydra multirun syntax), e.g. precision=bf16,fp8-rollout,int4-qat "
                "or precision.group_size=32,64,128 (range(...) also works). Each run is its own W&B run and group "
                "({recipe}-{mode}-{fingerprint[:8]}); all carry the sweep id (config.recipe_runner.sweep, tag "
                "sweep:<id>). --out DIR writes DIR/<run name>/ bundles; --launch runs the plans one after another "
                "(--parallel: all at once).")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="one plan per combination of swept overrides, sharing a sweep id",
                       epilog=SWEEP_EPILOG)
    add_recipe(p)
    add_overrides(p, help="Hydra overrides; a,b,c sweeps a key", nargs="+")
    add_recipes_dir(p)
    p.add_argument("--id", help="the sweep id (default: <recipe>-sweep-<hash of the overrides>)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--out", metavar="DIR", help="write one run bundle per run to DIR/<run name>/")
    p.add_argument("--launch", action="store_true", help="launch the runs on Ray, in sequence: each followed to "
                   "its end, stopping at the first failure")
    p.add_argument("--parallel", action="store_true", help="with --launch: submit every run detached, print the "
                   "submission ids")
    p.add_argument("--address", help="with --launch: the Ray dashboard address (default: $RAY_ADDRESS, else a "
                   "local head)")
    p.add_argument("--dry-run", action="store_true", help="with --launch: print what would run; change nothing")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("compare", help="compare W&B runs (online or offline directories): table and plot")
    p.add_argument("runs", nargs="*", help="offline run directories (wandb/offline-run-*) or a wandb/ directory "
                   "holding them (the processes of one job are merged by run id), or run ids with --project")
    p.add_argument("--project", help="read runs from this W&B project (public API; needs WANDB_API_KEY)")
    p.add_argument("--entity", help="W&B entity (default: your default entity)")
    p.add_argument("--sweep", help="only runs of this sweep (config.recipe_runner.sweep)")
    p.add_argument("--group", help="only runs of this W&B group (= the run name)")
    p.add_argument("--tag", action="append", default=[], help="only runs with this tag (repeatable: any of them)")
    p.add_argument("--mode", action="append", default=[], help="only runs of this precision mode (repeatable)")
    p.add_argument("--metric", action="append", default=[], help="another metric to show and plot (repeatable)")
    p.add_argument("--format", choices=("text", "csv", "json", "markdown"), default="text")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="also draw the metrics against step")
    p.add_argument("--baseline", metavar="MODE|RUN", help="add a stability report against this run (a precision "
                   "mode one run has, or a run id): reward gap, log-prob mismatch trend, verdict")
    p.set_defaults(func=cmd_compare)


def cmd_sweep(args: argparse.Namespace) -> int:
    stray = [flag for flag, on in (("--parallel", args.parallel), ("--address", args.address),
                                   ("--dry-run", args.dry_run)) if on]
    if stray and not args.launch:
        raise user_error(stray[0], "only applies with --launch", rule="--parallel, --address and --dry-run "
                         "configure --launch", hint="add --launch", title="invalid sweep options")
    s = api.sweep(args.recipe, args.overrides, args.recipes_dir, args.id)
    sys.stdout.write(api.sweep_text(s) if args.format == "text" else json.dumps(s.to_dict(), indent=2) + "\n")
    sys.stdout.flush()
    if args.out:
        for path in api.write_bundles(s, args.out, args.recipes_dir):
            print(f"bundle: {path}", file=sys.stderr)
    return api.launch_sweep(s, args.address, args.dry_run, args.parallel) if args.launch else 0


def cmd_compare(args: argparse.Namespace) -> int:
    where = api.Filter(args.sweep, args.group, tuple(args.tag), tuple(args.mode))
    c = api.compare_runs(args.runs, args.project, args.entity, where, tuple(args.metric), args.format,
                         args.baseline, args.plot)
    if c.hidden_columns:
        print(f"note: {c.hidden_columns} more differing config key(s) not shown (--format csv or json has them all)",
              file=sys.stderr)
    sys.stdout.write(c.text)
    if c.plot:
        print(f"plot: {c.plot}", file=sys.stderr)
    return 0
