"""A cache of composed recipes, keyed by content, so `plan`/`validate` skip Hydra when nothing changed.

Hydra's compose (and importing Hydra and OmegaConf for it) is most of a `plan` command's own time. Its
result is a pure function of: the recipe name, the overrides, every YAML file in the search directories,
the Hydra and OmegaConf versions, and our compose/spec code. The key hashes all of those, by content
(mtimes change on every checkout and copy, and miss same-second edits). Not cached: recipes or
overrides that call a resolver (`${oc.env:...}`, `${now:...}`: their value depends on more than the
files), and results that JSON cannot carry unchanged. The cache lives in the user's cache directory,
never in the install, so a read-only install works; if it cannot be written, commands just run uncached.

RECIPE_RUNNER_CACHE_DIR moves the cache; RECIPE_RUNNER_NO_CACHE=1 turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from importlib import metadata
from pathlib import Path

FORMAT = 1
_RESOLVER_CALL = re.compile(rb"\$\{\s*[\w.]+\s*:")
_CODE = tuple(Path(__file__).resolve().parent / f for f in ("compose.py", "compose_cache.py", "spec.py"))


def cache_dir() -> Path | None:
    if os.environ.get("RECIPE_RUNNER_NO_CACHE", "") not in ("", "0"):
        return None
    explicit = os.environ.get("RECIPE_RUNNER_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "recipe-runner" / "compose"


def key(name: str, overrides: list[str], dirs: tuple[Path, ...]) -> str | None:
    """sha256 of everything the composed dict depends on, or None when it depends on more (resolvers)."""
    h = hashlib.sha256(f"{FORMAT}\0{name}\0".encode())
    h.update(json.dumps(overrides).encode())
    if any(_RESOLVER_CALL.search(o.encode()) for o in overrides):
        return None
    for pkg in ("hydra-core", "omegaconf"):
        h.update(f"\0{pkg}={metadata.version(pkg)}".encode())
    for path in _CODE:
        h.update(hashlib.sha256(path.read_bytes()).digest())
    for d in dirs:
        h.update(f"\0dir={d}".encode())
        for f in sorted(d.rglob("*.yaml")):
            data = f.read_bytes()
            if _RESOLVER_CALL.search(data):
                return None
            h.update(f"\0{f.relative_to(d)}\0{len(data)}\0".encode())
            h.update(data)
    return h.hexdigest()


def load(k: str) -> dict | None:
    d = cache_dir()
    if d is None:
        return None
    try:
        data = json.loads((d / f"{k}.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def store(k: str, composed: dict) -> None:
    """Write atomically; skip what JSON would change (int keys, NaN, tuples) and any unwritable place."""
    d = cache_dir()
    if d is None:
        return
    text = json.dumps(composed)
    if json.loads(text) != composed or "NaN" in text or "Infinity" in text:
        return
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, d / f"{k}.json")
    except OSError:
        return
