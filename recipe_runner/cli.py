"""Thin command layer: parse arguments, call one library function, print, return the exit code.

Exit codes (DESIGN.md): 0 success; 2 invalid recipe, override or input; 1 a failure while running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from recipe_runner import __version__
from recipe_runner.errors import RunError, UserError

EXIT_CODES = "Exit codes: 0 success; 2 invalid recipe, override or input; 1 a failure while running."
EPILOG = "Overrides use Hydra's grammar: key=value, group=option (precision=fp8-full), +key=value, ~key, key=[a,b]."


class CommandParser(argparse.ArgumentParser):
    """Options and overrides in any order (`plan R --format json k=v`); a command's errors show its own usage.

    argparse matches positionals in one run, so `plan R --format json k=v` left `k=v` unrecognized and
    reported it with the top-level usage. A command's parser (one without sub-commands) parses intermixed
    instead and reports leftovers itself.
    """

    intermixed = True  # False: plain argparse (`__complete`, whose words may look like options)
    _intermixing = False

    def parse_known_args(self, args=None, namespace=None):  # type: ignore[override]
        if self._subparsers is not None or self._intermixing or not self.intermixed:
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            namespace, extras = self.parse_known_intermixed_args(args, namespace)
        finally:
            self._intermixing = False
        if extras:
            self.error("unrecognized arguments: " + " ".join(extras))
        return namespace, extras


def _recipe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe name (see `recipe-runner list`)")
    p.add_argument("overrides", nargs="*", default=[],
                   help="Hydra overrides, e.g. cluster.nodes=2 precision=int4-rollout")
    p.add_argument("--recipes-dir", help="an extra directory of recipes and config-group options (searched first)")


def cmd_list(args: argparse.Namespace) -> int:
    if args.models:
        return _list_models(args)
    from recipe_runner.api import catalogue

    if args.groups:
        from recipe_runner.groups import group_options

        for o in group_options(args.recipes_dir):
            print(f"{o.group + '=' + o.option:<28} {o.summary}")
        return 0
    cat = catalogue(args.recipes_dir)
    head = ("recipe", "model", "mode", "nodes x GPUs", "GPU", "group", "maturity")
    _print_table([head] + [(r.recipe, r.model, r.mode, r.layout, r.gpu, r.group_size, r.maturity) for r in cat.rows])
    for name, err in cat.broken:
        print(f"warning: recipe {name!r} left out: {err.render().removeprefix('error: ')}", file=sys.stderr)
    return 0


def _list_models(args: argparse.Namespace) -> int:
    from recipe_runner.precision import MODES
    from recipe_runner.zoo import model_rows

    rows = model_rows(args.group_size, args.recipes_dir)
    head = ("model", "family", "params", "active", *MODES)
    _print_table([head] + [(r.option, r.family, f"{r.params / 1e9:.1f}B", f"{r.active / 1e9:.1f}B",
                            *(r.modes[m].label() for m in MODES)) for r in rows])
    print(f"\nmodes: the SGLang engine TP sizes at which the rollout checkpoint's shards fit its format (INT4 group "
          f"{args.group_size}); ep: with --sglang-ep-size = TP, experts whole; no: no engine size fits.\n"
          "INT4 quantizes routed experts only: a dense model's int4-rollout checkpoint keeps BF16 weights.")
    return 0


def _print_table(table: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def cmd_show(args: argparse.Namespace) -> int:
    from recipe_runner.api import show, split_key

    key, overrides = split_key(args.overrides)
    sys.stdout.write(show(args.recipe, overrides, args.recipes_dir, key))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from recipe_runner.api import check, strict_findings

    resolved, findings = check(args.recipe, args.overrides, args.recipes_dir)
    refused = strict_findings(findings) if args.strict else []
    if refused:
        raise UserError(f"recipe {args.recipe!r} fails --strict: {len(refused)} warning(s) or unchecked part(s)",
                        [f.problem() for f in refused])
    for f in findings:
        print(f"{f.severity}: {f.line()}", file=sys.stderr)
    n = sum(f.severity == "warning" for f in findings)
    print(f"ok: {resolved.recipe.name} ({resolved.recipe.precision.mode}) is valid"
          + (f", {n} warning(s)" if n else ""))
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    from recipe_runner.api import plan
    from recipe_runner.render import render, warnings

    p = plan(args.recipe, args.overrides, args.recipes_dir)
    if args.format != "text":
        for w in warnings(p, args.format):
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


def cmd_new(args: argparse.Namespace) -> int:
    from recipe_runner.authoring import new_recipe

    w = new_recipe(args.name, args.base, args.recipes_dir, args.model_config, args.overrides)
    for path in (w.model, w.recipe):
        if path is not None:
            print(f"wrote {path}")
    print(f"ok: {args.name} validates and plans; try: recipe-runner plan {args.name} --recipes-dir {args.recipes_dir}")
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    from recipe_runner.completion import SCRIPTS

    sys.stdout.write(SCRIPTS[args.shell])
    return 0


def cmd_complete(args: argparse.Namespace) -> int:
    from recipe_runner.completion import reply

    for candidate in reply(build_parser(), args.replaced, args.line):
        print(candidate)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from recipe_runner.render import FORMATS

    parser = CommandParser(prog="recipe-runner", description="Declarative low-precision RL recipes "
                                     "for slime: compose, validate, plan, convert, launch.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"recipe-runner {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="the recipe catalogue; --groups: the config-group options; --models: the models")
    p.add_argument("--recipes-dir", help="an extra directory of recipes")
    p.add_argument("--groups", action="store_true", help="list the config-group options (model=, precision=, "
                   "cluster=, algorithm=, data=) with one-line summaries")
    p.add_argument("--models", action="store_true",
                   help="list the model/ options: family, parameters and the precision modes their shapes allow")
    p.add_argument("--group-size", type=int, choices=(32, 64, 128), default=128,
                   help="INT4 group size for --models (default 128)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="the resolved recipe as YAML, or one subtree: show RECIPE [KEY] [k=v ...]",
                       epilog=EPILOG + " A word without '=' is the KEY, e.g. `show qwen3-30b-a3b-int4 rollout`.")
    _recipe_args(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("validate", help="validate a recipe: schema and every check", epilog=EPILOG)
    _recipe_args(p)
    p.add_argument("--strict", action="store_true", help="also refuse warnings and checks that could not run "
                   "here (checkpoints not on this machine)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("plan", help="conversion step, env vars and launch commands", epilog=EPILOG)
    _recipe_args(p)
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

    p = sub.add_parser("completion", help="shell completion script: eval \"$(recipe-runner completion bash)\"")
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(func=cmd_completion)
    p = sub.add_parser("__complete")  # no help: not listed; what the completion script calls on TAB
    p.intermixed = False
    p.add_argument("replaced", help=argparse.SUPPRESS)
    p.add_argument("line", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_complete)

    _register_optional(sub)
    _add_exit_codes(parser)
    return parser


def _add_exit_codes(parser: argparse.ArgumentParser) -> None:
    """Every command's --help ends with the exit codes."""
    parser.epilog = f"{parser.epilog} {EXIT_CODES}" if parser.epilog else EXIT_CODES
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for p in dict.fromkeys(action.choices.values()):
            _add_exit_codes(p)


def _register_optional(sub: argparse._SubParsersAction) -> None:
    """Commands of the heavier parts register themselves; they import their heavy deps lazily."""
    from recipe_runner import launch_cli, preflight_cli, prep_cli, recommend_cli, tracking_cli

    preflight_cli.register(sub)
    prep_cli.register(sub)
    recommend_cli.register(sub)
    tracking_cli.register(sub)
    launch_cli.register(sub)
    from recipe_runner.quant import commands as quant_commands

    quant_commands.register(sub)


QUANT_COMMANDS = ("convert", "verify", "inspect")


def _quant_parser() -> argparse.ArgumentParser:
    """The converter's commands alone: their start-up imports neither Hydra, pydantic nor the plan modules."""
    from recipe_runner.quant import commands as quant_commands

    parser = argparse.ArgumentParser(prog="recipe-runner")
    quant_commands.register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # Ctrl-C while the commands' modules load is an interrupt too, not a traceback
        parser = _quant_parser() if argv[:1] and argv[0] in QUANT_COMMANDS else build_parser()
        args = parser.parse_args(argv)
        return args.func(args)
    except UserError as e:
        print(e.render(), file=sys.stderr)
        return e.exit_code
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:  # an optional extra is not installed: name it
        from recipe_runner.extras import missing_extra

        err = missing_extra(e, next((a for a in argv if not a.startswith("-")), ""))
        if err is None:
            raise
        print(err.render(), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
