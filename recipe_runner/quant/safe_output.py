"""Write DST atomically: build in a hidden temp dir beside DST, rename into place only when complete.

A run that fails or is interrupted (SIGINT, SIGTERM, SIGHUP) removes its `.NAME.partial-*` directory; one
killed outright (SIGKILL, power loss) leaves it with its owner's pid and host inside, and the next run
into DST removes it (`remove_stale_partials`). The publish step replaces only the DST that was checked
under the DST lock: a DST that appeared or changed meanwhile is refused, never renamed away.
A crash between the two renames of `--force` leaves the old output as `.NAME.old-*`; the next run removes
it once DST exists, or says where it is.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recipe_runner.errors import user_error

from .jsonfile import read_bounded

OWNER_NAME = ".recipe-runner-owner"  # inside a partial dir: "<pid> <host>" of the process writing it
Identity = tuple[int, int]  # (st_dev, st_ino) of the DST checked under the lock; None: there was none


def check_overlap(dst: Path, src: Path) -> None:
    src_r, dst_r = src.resolve(), dst.resolve()
    if dst_r == src_r or src_r in dst_r.parents or dst_r in src_r.parents:
        raise user_error(
            str(dst),
            "overlaps the source directory",
            hint="write the converted checkpoint next to the source, e.g. SRC-FP8",
        )


def check_parent(dst: Path) -> None:
    """DST's nearest existing ancestor must be a directory (it is created below it if missing)."""
    for parent in dst.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise user_error(str(parent), "is a file, not a directory", hint=f"choose a DST outside {parent}")
            return


def check_destination(dst: Path, src: Path, force: bool, why_not_done: str = "") -> Identity | None:
    """Refuse an overlap with SRC or an existing DST without --force; return what DST is now."""
    check_overlap(dst, src)
    try:
        st = dst.lstat()
    except FileNotFoundError:
        return None
    if not force:
        raise user_error(
            str(dst),
            "already exists" + (f" and is not this conversion: {why_not_done}" if why_not_done else ""),
            rule="the converter never overwrites without being asked",
            hint="pass --force to replace it, or choose another DST",
        )
    if not dst.is_dir() or dst.is_symlink():
        raise user_error(str(dst), "exists and is not a directory", hint="remove it or choose another DST")
    return st.st_dev, st.st_ino


def _owner(partial: Path) -> tuple[int, str] | None:
    try:
        pid, host = read_bounded(partial / OWNER_NAME, 4096).decode().split()
        return int(pid), host
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_stale_partials(dst: Path) -> None:
    """Remove what dead runs left beside DST (called under the DST lock); say so on stderr.

    `.DST.partial-*`: removed when its owner pid is gone on this host. `.DST.old-*` (the output a `--force`
    run replaced, kept only between its two renames): removed when DST exists, since that run published;
    otherwise it is the only copy left and the user is told how to get it back.
    """
    for path in sorted(dst.parent.glob(f".{glob.escape(dst.name)}.old-*")):
        if path.is_symlink() or not path.is_dir():
            continue
        if dst.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            print(f"removed {path}: the output a --force run replaced (it stopped before deleting it)",
                  file=sys.stderr)
        else:
            print(f"note: {path} holds the output an interrupted --force run replaced; `mv` it to {dst} to keep it",
                  file=sys.stderr)
    for path in sorted(dst.parent.glob(f".{glob.escape(dst.name)}.partial-*")):
        if path.is_symlink() or not path.is_dir():
            continue  # not ours: we only ever make directories
        owner = _owner(path)
        if owner is None:
            print(f"note: {path} has no owner record; left alone (remove it if no conversion runs)", file=sys.stderr)
        elif owner[1] == socket.gethostname() and not _alive(owner[0]):
            shutil.rmtree(path, ignore_errors=True)
            print(f"removed {path}: partial output of pid {owner[0]}, which is no longer running", file=sys.stderr)


@contextmanager
def staging(dst: Path, expected: Identity | None = None) -> Iterator[Path]:
    """Yield an empty temp dir beside DST; publish it as DST on success, delete it on any other exit.

    `expected` is what DST was when checked under the lock (None: absent); publishing refuses anything else.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.partial-", dir=dst.parent))
    try:
        # written beside, then renamed: a run killed at any instant leaves no record or a whole one
        (tmp / f"{OWNER_NAME}.new").write_text(f"{os.getpid()} {socket.gethostname()}\n")
        (tmp / f"{OWNER_NAME}.new").rename(tmp / OWNER_NAME)
        yield tmp
        (tmp / OWNER_NAME).unlink()
        tmp.chmod(0o755)
        _publish(tmp, dst, expected)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _changed(dst: Path, what: str) -> Exception:
    return user_error(
        str(dst),
        f"{what} while this conversion ran; it was not replaced and the new output was discarded",
        rule="a conversion replaces only the DST it checked when it started",
        hint="find out who writes there; rerun (with --force to replace it)",
    )


def _publish(tmp: Path, dst: Path, expected: Identity | None) -> None:
    if expected is None:
        if not _rename_noreplace(tmp, dst):
            raise _changed(dst, "appeared")
        return
    try:
        st = dst.lstat()
    except FileNotFoundError:
        raise _changed(dst, "disappeared") from None
    if (st.st_dev, st.st_ino) != expected:
        raise _changed(dst, "was replaced")
    old = dst.parent / f".{dst.name}.old-{os.getpid()}"
    dst.rename(old)
    tmp.rename(dst)
    shutil.rmtree(old, ignore_errors=True)


_RENAME_NOREPLACE = 1  # linux/fs.h
_AT_FDCWD = -100


def _rename_noreplace(tmp: Path, dst: Path) -> bool:
    """Rename unless DST exists (atomically where the kernel has renameat2); False when DST exists."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no such libc symbol: the check-then-rename below
        renameat2 = None
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(dst), _RENAME_NOREPLACE) == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.EEXIST:
            return False
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # file system without the flag
            raise OSError(err, os.strerror(err), str(dst))
    if os.path.lexists(dst):
        return False
    tmp.rename(dst)
    return True
