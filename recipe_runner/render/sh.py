"""The shell writer: bash text from structured data, so a value can never become code.

Every value is a quoted word (`quote`); a run-time variable is a `Ref`, always double-quoted; a comment
goes through `comment`, the one function that writes free text, and it cannot emit a line break or a
control character. Renderers build scripts from these functions only, never by formatting values into text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from recipe_runner.printable import one_line

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass(frozen=True)
class Ref:
    """The value of shell variable `name` at run time, followed by literal text `suffix`."""

    name: str
    suffix: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)


Word = str | Ref


def quote(value: str) -> str:
    """One shell word that bash reads back as exactly `value` (NUL cannot be in an argv or a script)."""
    if "\0" in value:
        raise ValueError("a shell word cannot hold a NUL character")
    return shlex.quote(value)


def word(w: Word) -> str:
    if isinstance(w, Ref):
        return '"${' + w.name + '}"' + (quote(w.suffix) if w.suffix else "")
    return quote(w)


def join(argv: Sequence[Word]) -> str:
    return " ".join(map(word, argv))


def assign(name: str, value: Word) -> str:
    """`NAME=value`: a variable assignment or, before a command, an env var for that command."""
    _check_name(name)
    return name + "=" + word(value)


def command(argv: Sequence[Word], env: Mapping[str, str] | None = None,
            lines: Sequence[Sequence[Word]] = ()) -> str:
    """`[NAME=value ...] argv`, then `lines` as continuation lines (one flag with its values per line)."""
    head = " ".join([*(assign(k, v) for k, v in (env or {}).items()), join(argv)])
    return " \\\n".join([head, *("  " + join(chunk) for chunk in lines)])


def capture(name: str, argv: Sequence[Word]) -> str:
    """`NAME="$(argv)"`: a variable set to a command's output."""
    _check_name(name)
    return name + '="$(' + join(argv) + ')"'


def require_env(name: str) -> str:
    """Stop the script (set -u style) when env var `name` is unset or empty; its value is never written."""
    _check_name(name)
    return ': "${' + name + ':?export ' + name + ' before running this script (launch.forward_env)}"'


def comment(text: str) -> str:
    """`# text` on one line: line breaks and control characters are written as visible escapes."""
    return "# " + one_line(text) if text else "#"


def _check_name(name: str) -> None:
    if not ENV_NAME.match(name):
        raise ValueError(f"not a shell variable name: {name!r}")
