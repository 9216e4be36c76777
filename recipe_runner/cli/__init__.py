"""The `recipe-runner` entry point: wire the command groups, run the chosen command, map errors to exit codes.

Each command group is one module here (parse -> one library call -> print, exit code); what a command
does lives in recipe_runner.api and the modules it calls. Exit codes (DESIGN.md): 0 success; 2 invalid
recipe, override or input; 1 a failure while running.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from recipe_runner import __version__
from recipe_runner.cli import checkpoints
from recipe_runner.cli.common import EPILOG, EXIT_CODES, CommandParser, add_exit_codes
from recipe_runner.errors import RunError, UserError
from recipe_runner.extras import missing_extra

__all__ = ["EXIT_CODES", "build_parser", "main"]

DESCRIPTION = "Declarative low-precision RL recipes for slime: compose, validate, plan, convert, launch."
CHECKPOINT_COMMANDS = ("convert", "verify", "inspect")


def build_parser() -> CommandParser:
    """Every command's parser, in the order `--help` lists them."""
    # The light-CLI dispatch: these groups import the recipe side (Hydra, pydantic, the plan) at their top,
    # which the converter's commands must not pay for, so they load only when the full parser is built.
    from recipe_runner.cli import jobs, preflight, recipes, runs, shell

    parser = CommandParser(prog="recipe-runner", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"recipe-runner {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    recipes.register(sub)
    shell.register(sub, build_parser)
    preflight.register(sub)
    runs.register(sub)
    jobs.register(sub)
    checkpoints.register(sub)
    add_exit_codes(parser)
    return parser


def checkpoint_parser() -> argparse.ArgumentParser:
    """The converter's commands alone: their start-up imports neither Hydra, pydantic nor the plan modules."""
    parser = argparse.ArgumentParser(prog="recipe-runner")
    checkpoints.register(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:  # Ctrl-C while the commands' modules load is an interrupt too, not a traceback
        parser = checkpoint_parser() if argv[:1] and argv[0] in CHECKPOINT_COMMANDS else build_parser()
        args = parser.parse_args(argv)
        return args.func(args)
    except UserError as e:
        print(e.render(), file=sys.stderr)
        return e.exit_code
    except RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:  # an optional extra is not installed: name it
        err = missing_extra(e, next((a for a in argv if not a.startswith("-")), ""))
        if err is None:
            raise
        print(err.render(), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
