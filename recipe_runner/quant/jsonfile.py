"""JSON from files anyone may have edited: regular files only, bounded in size and in nesting depth."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

MAX_JSON_FILE_BYTES = 100 * 1024 * 1024  # as safetensors' header cap; a DeepSeek-V3 index is about 9 MB


def parse_json(raw: bytes | str, error: type[Exception]) -> object:
    """json.loads with every failure as `error`. Depth is bounded: the C decoder stops at the interpreter's
    recursion limit (about 1000 levels) with RecursionError, reported here; callers then check the shape,
    which for every file we read nests at most a few levels."""
    try:
        return json.loads(raw)
    except RecursionError as e:
        raise error("JSON nests too deeply (a real file nests a few levels)") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"not valid JSON ({e})") from e


def is_int(x: object) -> bool:
    """A JSON integer; `true` is a Python int but not a size or a dimension."""
    return isinstance(x, int) and not isinstance(x, bool)


def read_bounded(path: Path, limit: int = MAX_JSON_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. A FIFO or device would block or never end,
    so anything else is a ValueError; OSError (missing, unreadable) passes through."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # O_NONBLOCK: opening a FIFO must not wait
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("is not a regular file")
        if st.st_size > limit:
            raise ValueError(f"has {st.st_size} bytes, more than the {limit} a file of this kind may have")
        return f.read(limit + 1)
