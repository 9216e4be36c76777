"""Every OS error of the quant commands as one message naming the path: exit 2 or exit 1, no traceback.

Errors about the user's paths (missing, unreadable, unwritable, read-only, a file where a directory must
be, or the reverse) are bad input: exit 2. Anything else (no space left, I/O error) is a failure while
running: exit 1. Either way the staging directory has already been removed by the time this is raised.
"""

from __future__ import annotations

import errno
from pathlib import Path

from recipe_runner.errors import RunError, UserError, user_error

_USER_ERRNOS: dict[int, str] = {
    errno.EACCES: "check its permissions, or choose another path",
    errno.EPERM: "check its permissions, or choose another path",
    errno.EROFS: "the file system is read-only; choose a writable path",
    errno.ENOTDIR: "a component of the path is a file, not a directory; choose another path",
    errno.EISDIR: "it is a directory where a file is expected",
    errno.ENOENT: "check the path",
    errno.EEXIST: "something is already there; choose another path",
    errno.ELOOP: "a symlink where a file is expected (or a symlink loop); remove it",
    errno.ENAMETOOLONG: "use a shorter path",
}


def os_failure(e: OSError, path: Path | str, doing: str) -> UserError | RunError:
    """The error to raise for `e`, which happened while `doing` (e.g. "converting into DST")."""
    where = str(e.filename if e.filename is not None else path)
    reason = e.strerror or str(e)
    if e.errno in _USER_ERRNOS:
        return user_error(where, f"cannot be used: {reason} (while {doing})", hint=_USER_ERRNOS[e.errno])
    extra = "; free some space" if e.errno in (errno.ENOSPC, errno.EDQUOT) else ""
    return RunError(f"{doing} failed: {where}: {reason}; no partial output was left{extra}")
