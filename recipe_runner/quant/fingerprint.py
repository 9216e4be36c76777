"""A cheap content fingerprint of a checkpoint directory, for "is DST already this conversion?".

Hashing every byte of a 470 GB checkpoint takes minutes; mtimes change on every copy. So for each
top-level regular file we hash its name, its size, its safetensors header when it has one, and three
64 KiB samples (start, middle, end); files up to 192 KiB are hashed whole. A re-download, a copy or a
move keeps the fingerprint; a fine-tuned checkpoint saved over the old one (same names and shapes,
new values) changes the sampled bytes and so the fingerprint. Cost: about 200 KiB read per file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SAMPLE = 64 * 1024
_SKIP = {"conversion.json"}


def fingerprint(root: Path) -> str:
    """One hash over every top-level regular file of `root` (conversion.json aside)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.iterdir() if p.is_file() and p.name not in _SKIP):
        size = path.stat().st_size
        h.update(f"{path.name}\0{size}\0".encode())
        _sample(h, path, size)
    return "sha256:" + h.hexdigest()


def file_digest(path: Path, size: int) -> str:
    """The same cheap content check for one file: what conversion.json's manifest records per output file."""
    h = hashlib.sha256()
    _sample(h, path, size)
    return "sha256:" + h.hexdigest()


def _sample(h: hashlib._Hash, path: Path, size: int) -> None:
    with path.open("rb") as f:
        if size <= 3 * SAMPLE:
            h.update(f.read())
            return
        if path.suffix == ".safetensors":
            n = int.from_bytes(f.read(8), "little")
            h.update(f.read(min(n, size - 8)))
        for pos in (0, size // 2 - SAMPLE // 2, size - SAMPLE):
            f.seek(pos)
            h.update(f.read(SAMPLE))
