"""Write DST atomically: build in a hidden temp dir beside DST, rename into place only when complete.

A run that fails or is interrupted leaves at most a `.NAME.partial-*` directory, never a DST that
looks complete. A crash between the two renames of `--force` leaves the old output as `.NAME.old-*`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recipe_runner.errors import user_error


def check_destination(dst: Path, src: Path, force: bool) -> None:
    src_r, dst_r = src.resolve(), dst.resolve()
    if dst_r == src_r or src_r in dst_r.parents or dst_r in src_r.parents:
        raise user_error(
            str(dst),
            "overlaps the source directory",
            hint="write the converted checkpoint next to the source, e.g. SRC-FP8",
        )
    if dst.exists() or dst.is_symlink():
        if not force:
            raise user_error(
                str(dst),
                "already exists",
                rule="the converter never overwrites without being asked",
                hint="pass --force to replace it, or choose another DST",
            )
        if not dst.is_dir() or dst.is_symlink():
            raise user_error(str(dst), "exists and is not a directory", hint="remove it or choose another DST")


@contextmanager
def staging(dst: Path) -> Iterator[Path]:
    """Yield an empty temp dir beside DST; publish it as DST on success, delete it on any other exit."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.partial-", dir=dst.parent))
    try:
        yield tmp
        tmp.chmod(0o755)
        _publish(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: Path, dst: Path) -> None:
    if not dst.exists():
        tmp.rename(dst)
        return
    old = dst.parent / f".{dst.name}.old-{os.getpid()}"
    dst.rename(old)
    tmp.rename(dst)
    shutil.rmtree(old, ignore_errors=True)
