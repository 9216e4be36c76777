"""`sweep` and `compare`: parse, call sweep.py / compare.py, print. wandb and matplotlib load lazily."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SWEEP_EPILOG = ("Comma-separated values sweep (Hydra multirun syntax), e.g. precision=bf16,fp8-rollout,int4-qat "
                "or precision.group_size=32,64,128 (range(...) also works). Each run is its own W&B run and group "
                "({recipe}-{mode}-{fingerprint[:8]}); all carry the sweep id (config.recipe_runner.sweep, tag "
                "sweep:<id>). --out DIR writes DIR/<run name>/ bundles; --launch runs the plans one after another "
                "(--parallel: all at once).")
MAX_CONFIG_COLUMNS = 8  # differing config keys in a text or markdown table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="one plan per combination of swept overrides, sharing a sweep id",
                       epilog=SWEEP_EPILOG)
    p.add_argument("recipe", help="recipe name (see `recipe-runner list`)")
    p.add_argument("overrides", nargs="+", help="Hydra overrides; a,b,c sweeps a key")
    p.add_argument("--recipes-dir", help="an extra directory of recipes and config-group options")
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
    from recipe_runner.sweep import launch_sweep, render_text, sweep, write_bundles

    _check_launch_flags(args)
    s = sweep(args.recipe, args.overrides, args.recipes_dir, args.id)
    sys.stdout.write(render_text(s) if args.format == "text" else json.dumps(s.to_dict(), indent=2) + "\n")
    sys.stdout.flush()
    if args.out:
        for path in write_bundles(s, args.out, args.recipes_dir):
            print(f"bundle: {path}", file=sys.stderr)
    return launch_sweep(s, args.address, args.dry_run, args.parallel) if args.launch else 0


def _check_launch_flags(args: argparse.Namespace) -> None:
    from recipe_runner.errors import user_error

    stray = [flag for flag, on in (("--parallel", args.parallel), ("--address", args.address),
                                   ("--dry-run", args.dry_run)) if on]
    if stray and not args.launch:
        raise user_error(stray[0], "only applies with --launch", rule="--parallel, --address and --dry-run "
                         "configure --launch", hint="add --launch", title="invalid sweep options")


def cmd_compare(args: argparse.Namespace) -> int:
    from recipe_runner import compare
    from recipe_runner.errors import user_error

    if args.plot:
        compare.check_plot_path(args.plot)  # before any run is read
    where = compare.Filter(args.sweep, args.group, tuple(args.tag), tuple(args.mode))
    if args.project:
        runs = compare.api_runs(args.project, args.entity, where, tuple(args.runs))
    elif args.runs:
        runs = compare.select(compare.offline_runs(args.runs), where)
    else:
        raise user_error("runs", "nothing to compare", hint="pass offline run directories or --project NAME",
                         title="no runs")
    extra = tuple(args.metric)
    compare.check_metrics(runs, extra)
    capped = args.format in ("text", "markdown")  # json and csv keep every differing config key
    t = compare.table(runs, extra, MAX_CONFIG_COLUMNS if capped else None)
    hidden = len(compare.differing_config(runs)) - MAX_CONFIG_COLUMNS
    if capped and hidden > 0:
        print(f"note: {hidden} more differing config key(s) not shown (--format csv or json has them all)",
              file=sys.stderr)
    baseline = compare.baseline_run(runs, args.baseline) if args.baseline else None
    if baseline is not None:
        t = compare.with_stability(t, runs, baseline)
    sys.stdout.write(compare.render(t, args.format))
    if args.plot:
        print(f"plot: {compare.plot(runs, args.plot, extra, baseline=baseline)}", file=sys.stderr)
    return 0
