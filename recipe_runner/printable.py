"""One line of text that is safe to show or to put in a comment: nothing in it can end the line or act.

Line breaks (including U+0085, U+2028, U+2029, which YAML also breaks on), control characters (terminal
escape sequences) and other invisible code points become visible `\\uXXXX` escapes.
"""

from __future__ import annotations

import unicodedata


def one_line(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" if _unsafe(c) else c for c in text)


def _unsafe(c: str) -> bool:
    # C*: controls, format, surrogates, unassigned; Zl/Zp: the line and paragraph separators
    return unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")
