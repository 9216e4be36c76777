"""What the command groups share: the parser class, the recipe arguments (declared once), the epilogs."""

from __future__ import annotations

import argparse

EXIT_CODES = "Exit codes: 0 success; 2 invalid recipe, override or input; 1 a failure while running."
EPILOG = "Overrides use Hydra's grammar: key=value, group=option (precision=fp8-full), +key=value, ~key, key=[a,b]."
RECIPES_DIR_HELP = "an extra directory of recipes and config-group options (searched first)"


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


def add_recipe(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", help="recipe name (see `recipe-runner list`)")


def add_overrides(p: argparse.ArgumentParser, help: str = "Hydra overrides, e.g. cluster.nodes=2 "
                  "precision=int4-rollout", nargs: str = "*") -> None:
    p.add_argument("overrides", nargs=nargs, default=[], help=help)


def add_recipes_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipes-dir", help=RECIPES_DIR_HELP)


def add_recipe_args(p: argparse.ArgumentParser) -> None:
    """RECIPE [k=v ...] --recipes-dir DIR: what every command about one recipe takes."""
    add_recipe(p)
    add_overrides(p)
    add_recipes_dir(p)


def add_exit_codes(parser: argparse.ArgumentParser) -> None:
    """Every command's --help ends with the exit codes."""
    parser.epilog = f"{parser.epilog} {EXIT_CODES}" if parser.epilog else EXIT_CODES
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for p in dict.fromkeys(action.choices.values()):
            add_exit_codes(p)


def print_table(table: list[tuple[str, ...]]) -> None:
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
