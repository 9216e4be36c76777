"""One writer per DST: an exclusive, non-blocking `flock` on `.DST.lock` beside DST.

A second conversion into the same DST fails at once (exit 2) naming the holder's pid, instead of both
writing and both reporting success. The kernel drops the lock when its holder dies (even by SIGKILL), so a
crashed run never blocks the next one. The holder unlinks the file before it unlocks; a waiter that locked
an unlinked file notices (its inode is no longer the path's) and tries again, so two holders cannot both
believe they own the path. flock works across processes of one host and, on Linux, over NFSv4.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from recipe_runner.errors import user_error


def lock_path(dst: Path) -> Path:
    return dst.parent / f".{dst.name}.lock"


def _holder(fd: int) -> str:
    text = os.pread(fd, 200, 0).decode(errors="replace").split()
    return f"pid {text[0]} on {text[1]}" if len(text) == 2 else "a process that is starting up"


@contextmanager
def dst_lock(dst: Path) -> Iterator[None]:
    """Hold the lock for DST for the duration of the block, or raise a UserError naming the holder."""
    path = lock_path(dst)
    while True:
        # O_NOFOLLOW: a symlink planted at the lock path must not make us truncate the file it points to
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise user_error(
                str(dst),
                f"is being written by another conversion ({holder})",
                rule="one conversion writes a destination at a time (lock: " + str(path) + ")",
                hint="wait for it to finish, or stop it; then run again",
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder unlinked it while we waited for it: lock the new file
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        with suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
