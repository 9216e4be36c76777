"""`recommend`: thin: parse, call api.recommend, print."""

from __future__ import annotations

import argparse
import json
import sys

from recipe_runner.precision import MODES

EPILOG = ("Exit codes: 0 ranked rows printed; 2 nothing fits (the binding constraint is named) or bad input. "
          "The index is relative throughput from first principles (docs/recommend.md), not seconds.")


def cmd_recommend(args: argparse.Namespace) -> int:
    from recipe_runner import recommend
    from recipe_runner.api import recommend as run

    request = recommend.Request(args.gpus, args.nodes, args.gpus_per_node, tuple(args.modes), args.headroom,
                                args.top)
    rec, written = run(args.model, request, args.model_config, args.recipes_dir, args.write)
    if args.format == "json":
        print(json.dumps(recommend.as_dict(rec) | {"written": str(written) if written else None}, indent=2))
    else:
        sys.stdout.write(recommend.text(rec))
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="rank the precision modes and layouts that fit a model on a cluster",
                       epilog=EPILOG)
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
    p.add_argument("--recipes-dir", help="an extra directory of recipes and config-group options")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(func=cmd_recommend)
