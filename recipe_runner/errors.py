"""The one error type users see: field or file, value, rule, fix -> exit code 2, no traceback."""

from __future__ import annotations

from dataclasses import dataclass

from recipe_runner.printable import one_line


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, phrased so a person can fix it."""

    where: str  # dotted field path (`cluster.nodes`) or a file path
    message: str  # what is wrong, including the bad value
    rule: str = ""  # the rule that was broken
    hint: str = ""  # how to fix it

    def render(self) -> str:
        lines = [f"  {self.where}: {self.message}"]
        if self.rule:
            lines.append(f"    rule: {self.rule}")
        if self.hint:
            lines.append(f"    fix:  {self.hint}")
        return "\n".join(lines)


class UserError(Exception):
    """Bad input (recipe, override, checkpoint, path). The CLI prints it and exits 2."""

    exit_code = 2

    def __init__(self, title: str, problems: list[Problem] | tuple[Problem, ...] = ()):
        super().__init__(title)
        self.title = title
        self.problems = tuple(problems)

    def render(self) -> str:
        body = "\n".join(p.render() for p in self.problems)
        text = f"error: {self.title}" + (f"\n{body}" if body else "")
        return "\n".join(map(one_line, text.split("\n")))  # a value's control characters are shown, not acted on


def user_error(where: str, message: str, rule: str = "", hint: str = "", title: str = "") -> UserError:
    """Shorthand for an error with a single problem."""
    return UserError(title or "invalid input", [Problem(where, message, rule, hint)])


class RunError(Exception):
    """A failure while running (conversion, job): exit code 1."""

    exit_code = 1
