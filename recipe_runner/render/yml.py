"""The YAML writer: documents through PyYAML's safe dumper, comments through the shell writer's `comment`.

A value can hold newlines, `---`, `#` or quotes: the dumper quotes it, so the text loads back as exactly
the documents given, one per call. No YAML text is ever built by formatting values into strings.
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml

from recipe_runner.render.sh import comment


def dump(doc: object, comments: Sequence[str] = ()) -> str:
    """One YAML document, preceded by one comment line per entry of `comments`."""
    head = "".join(comment(c) + "\n" for c in comments)
    return head + yaml.safe_dump(doc, sort_keys=False, width=2**31, allow_unicode=False)
