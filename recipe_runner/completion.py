"""Shell completion from the parser definitions: commands, options, recipes, group options, dotted keys.

`recipe-runner completion bash|zsh` prints a script that asks `recipe-runner __complete` on each TAB; the
candidates come from the same argparse parser that parses the command line (no hand-written lists),
recipe names and group options from the recipe directories, and keys from the schema.
"""

from __future__ import annotations

import argparse
import shlex
import typing

from recipe_runner.compose import GROUPS, group_options, list_recipes, schema_paths
from recipe_runner.precision import MODES
from recipe_runner.spec import Recipe

# The shell side: hand the line up to the cursor and the word bash will replace; print one candidate a line.
# zsh runs the same function through bashcompinit (its words do not break at '=').
BASH = """_recipe_runner() {
    local IFS=$'\\n'
    COMPREPLY=($(recipe-runner __complete -- "${COMP_WORDS[COMP_CWORD]}" "${COMP_LINE:0:$COMP_POINT}" 2>/dev/null))
}
complete -o default -o nosort -F _recipe_runner recipe-runner
"""
ZSH = "autoload -U +X bashcompinit && bashcompinit\n" + BASH.replace(" -o nosort", "")
SCRIPTS = {"bash": BASH, "zsh": ZSH}


def candidates(parser: argparse.ArgumentParser, line: str) -> list[str]:
    """Completions of the last word of `line` (the command line up to the cursor)."""
    try:
        words = shlex.split(line)
    except ValueError:  # an open quote: complete the raw words
        words = line.split()
    if line.endswith((" ", "\t")) or not words:
        words.append("")
    words, cur = words[1:-1], words[-1]
    return sorted({c for c in _for(parser, words, cur) if c.startswith(cur)})


def _for(parser: argparse.ArgumentParser, words: list[str], cur: str) -> list[str]:
    sub = _subparsers(parser)
    if sub is not None:
        if not words or words[0] not in sub.choices:
            return [] if words else [c for c in sub.choices if not c.startswith("_")] + _options(parser)
        return _for(sub.choices[words[0]], words[1:], cur)
    options = {s: a for a in parser._actions for s in a.option_strings}
    if words and words[-1] in options and options[words[-1]].nargs != 0:
        return _values(options[words[-1]], words)
    if cur.startswith("-"):
        return _options(parser)
    return _positional(parser, _positionals_given(words, options), words, cur)


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    return next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [s for a in parser._actions for s in a.option_strings if a.help != argparse.SUPPRESS]


def _positionals_given(words: list[str], options: dict[str, argparse.Action]) -> int:
    n, skip = 0, 0
    for w in words:
        if skip:
            skip -= 1
        elif w in options:
            nargs = options[w].nargs
            skip = 0 if nargs == 0 else nargs if isinstance(nargs, int) else 1
        elif not w.startswith("-"):
            n += 1
    return n


def _values(action: argparse.Action, words: list[str]) -> list[str]:
    if action.choices:
        return list(action.choices)
    if action.dest == "modes":
        return list(MODES)
    return []  # a path: the shell's own file completion (-o default)


def _positional(parser: argparse.ArgumentParser, given: int, words: list[str], cur: str) -> list[str]:
    slots = [a for a in parser._actions if not a.option_strings and a.help != argparse.SUPPRESS]
    slot = slots[min(given, len(slots) - 1)] if slots else None
    if slot is None or (given >= len(slots) and slot.nargs not in ("*", "+")):
        return []
    if slot.choices:
        return list(slot.choices)
    recipes_dir = _recipes_dir(words)
    if slot.dest in ("recipe", "left", "right"):
        return [name for name, _ in list_recipes(recipes_dir)]
    if slot.dest == "key":
        return _keys(with_equals=False)
    if slot.dest == "overrides":
        return _overrides(cur, recipes_dir)
    return []


def _recipes_dir(words: list[str]) -> str | None:
    return words[words.index("--recipes-dir") + 1] if "--recipes-dir" in words[:-1] else None


def _overrides(cur: str, recipes_dir: str | None) -> list[str]:
    key, eq, _ = cur.lstrip("+~").partition("=")
    prefix = cur[: len(cur) - len(cur.lstrip("+~"))]
    if not eq:
        return [prefix + g + "=" for g in GROUPS] + [prefix + k for k in _keys(with_equals=True)]
    if key in GROUPS:
        return [f"{prefix}{key}={o}" for o in group_options(key, recipes_dir)]
    return [f"{prefix}{key}={v}" for v in _choices(key)]


def _keys(with_equals: bool) -> list[str]:
    """Every dotted schema field; leaves end with `=` for an override, blocks with `.`."""
    paths = schema_paths()
    blocks = {p.rsplit(".", 1)[0] for p in paths if "." in p}
    if not with_equals:
        return list(paths)
    return [p + ("." if p in blocks else "=") for p in paths]


def _choices(key: str) -> list[str]:
    """The allowed values of a schema field with a fixed set (Literal, bool)."""
    model, field = Recipe, None
    for part in key.split("."):
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = field.annotation
    ann = field.annotation
    args = typing.get_args(ann)
    if ann is bool:
        return ["true", "false"]
    literal = next((a for a in (ann, *args) if typing.get_origin(a) is typing.Literal), None)
    return [str(v) for v in typing.get_args(literal)] if literal is not None else []


def reply(parser: argparse.ArgumentParser, replaced: str, line: str) -> list[str]:
    """What the shell inserts: each candidate minus the part of the last word the shell will not replace.

    bash splits words at '=' (COMP_WORDBREAKS), so for `precision=in` it replaces only `in`.
    """
    try:
        last = shlex.split(line + ("" if line.endswith(" ") else "_"))[-1][:-1] if line.strip() else ""
    except ValueError:
        last = line.split()[-1] if line.split() else ""
    last = "" if line.endswith(" ") else last
    keep = len(last) - len(replaced) if last.endswith(replaced) else 0
    return [c[keep:] for c in candidates(parser, line)]
