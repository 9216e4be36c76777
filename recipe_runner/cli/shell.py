"""`completion` prints the shell script; `__complete` (unlisted) answers its TAB from the full parser."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from recipe_runner.completion import SCRIPTS, reply


def register(sub: argparse._SubParsersAction, full_parser: Callable[[], argparse.ArgumentParser]) -> None:
    """`full_parser` builds the whole command line's parser: completion answers from the same definitions."""
    p = sub.add_parser("completion", help="shell completion script: eval \"$(recipe-runner completion bash)\"")
    p.add_argument("shell", choices=("bash", "zsh"))
    p.set_defaults(func=cmd_completion)
    p = sub.add_parser("__complete")  # no help: not listed; what the completion script calls on TAB
    p.intermixed = False
    p.add_argument("replaced", help=argparse.SUPPRESS)
    p.add_argument("line", help=argparse.SUPPRESS)
    p.set_defaults(func=lambda args: cmd_complete(args, full_parser()))


def cmd_completion(args: argparse.Namespace) -> int:
    sys.stdout.write(SCRIPTS[args.shell])
    return 0


def cmd_complete(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    for candidate in reply(parser, args.replaced, args.line):
        print(candidate)
    return 0
