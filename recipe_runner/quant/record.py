"""`conversion.json`: what DST was made from and how, and a manifest of every file it holds.

A launcher skips a conversion only when the record matches the source and parameters *and* DST's files
match the manifest (names, sizes, sampled content): a copied `conversion.json` beside missing or
truncated weights is not a finished conversion.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recipe_runner import __version__
from recipe_runner.errors import UserError
from recipe_runner.formats import CONVERSIONS, Params, params_from_json

from .fingerprint import file_digest, fingerprint
from .jsonfile import is_int, parse_json, read_bounded
from .safe_output import OWNER_NAME

RECORD_NAME = "conversion.json"
# Bumped whenever the converter's output bytes change for the same source and parameters;
# tool versions that produce identical bytes share it, so upgrading the tool does not force a re-run.
FORMAT_VERSION = 1
_MAX_RECORD_BYTES = 16 << 20  # a record for 10k files is about 1 MB


def manifest(out: Path) -> dict[str, dict[str, Any]]:
    """Every top-level file of `out` (conversion.json aside): size and sampled sha256 (see fingerprint)."""
    files = {}
    for path in sorted(out.iterdir()):
        if path.name not in (RECORD_NAME, OWNER_NAME):
            size = path.stat().st_size
            files[path.name] = {"size": size, "sample_sha256": file_digest(path, size)}
    return files


def record(
    src: Path, params: Params, source_fingerprint: str, summary: Mapping[str, Any], files: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "tool": "recipe-runner",
        "tool_version": __version__,
        "format_version": FORMAT_VERSION,
        "mode": params.mode,
        "parameters": params.to_json(),
        "source": {"path": str(src), "fingerprint": source_fingerprint},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **summary,
        "files": dict(files),
    }


def _record_shape_problem(data: object) -> str | None:
    """Why `data` is not a record this version wrote, or None. Checks every field the readers use."""
    if not isinstance(data, dict):
        return "it is not a JSON object"
    if data.get("format_version") != FORMAT_VERSION:
        return f"format_version is {data.get('format_version')!r}, this tool writes {FORMAT_VERSION}"
    if data.get("mode") not in CONVERSIONS:
        return f"mode is {data.get('mode')!r}"
    if not isinstance(data.get("parameters"), dict):
        return "parameters is not an object"
    source = data.get("source")
    if not (isinstance(source, dict) and isinstance(source.get("path"), str)
            and isinstance(source.get("fingerprint"), str)):
        return "source is not an object with a path and a fingerprint"
    files = data.get("files")
    if not (isinstance(files, dict) and files and all(
        isinstance(f, dict) and is_int(f.get("size")) and isinstance(f.get("sample_sha256"), str)
        for f in files.values()
    )):
        return "files (the manifest of the output) is missing or malformed"
    return None


def read_record(dst: Path) -> tuple[dict[str, Any] | None, str]:
    """(record, "") when DST holds a well-formed conversion.json, else (None, why not)."""
    path = dst / RECORD_NAME
    try:
        data = parse_json(read_bounded(path, _MAX_RECORD_BYTES), ValueError)
    except FileNotFoundError:
        return None, f"it has no {RECORD_NAME}"
    except (OSError, ValueError) as e:
        return None, f"{RECORD_NAME} cannot be read ({e})"
    problem = _record_shape_problem(data)
    if problem:
        return None, f"{RECORD_NAME} is not a valid record: {problem}"
    return data, ""  # type: ignore[return-value]


def manifest_problem(dst: Path, files: Mapping[str, Any]) -> str | None:
    """How DST's files differ from the manifest (missing, extra, other size or content), or None."""
    try:
        present = {e.name: e for e in os.scandir(dst) if e.name != RECORD_NAME}
        extra = sorted(set(present) - set(files))
        missing = sorted(set(files) - set(present))
        if missing:
            return f"missing {', '.join(missing[:3])}"
        if extra:
            return f"not listed: {', '.join(extra[:3])}"
        for name, want in sorted(files.items()):
            entry = present[name]
            if not entry.is_file(follow_symlinks=False):
                return f"{name} is not a regular file"
            size = entry.stat(follow_symlinks=False).st_size
            if size != want["size"]:
                return f"{name} has {size} bytes, the manifest says {want['size']}"
            if file_digest(Path(entry.path), size) != want["sample_sha256"]:
                return f"{name} has other content than the manifest records"
    except OSError as e:
        return f"its files cannot be read ({e})"
    return None


def conversion_mismatch(dst: Path | str, src: Path | str, mode: str, params: Mapping[str, Any]) -> str | None:
    """None when DST holds a completed conversion of SRC's current content with these parameters, else why not."""
    dst, src = Path(dst), Path(src)
    rec, why = read_record(dst)
    if rec is None:
        return why
    if rec["mode"] != mode:
        return f"it is a {rec['mode']} conversion, not {mode}"
    try:
        wanted = params_from_json(mode, dict(params)).to_json()
        have = params_from_json(mode, rec["parameters"]).to_json()
    except UserError as e:
        return f"its parameters cannot be read ({e.problems[0].message if e.problems else e})"
    if wanted != have:
        return f"it was converted with {have}, not {wanted}"
    problem = manifest_problem(dst, rec["files"])
    if problem:
        return f"its files do not match {RECORD_NAME} ({problem}): a partial or hand-made copy"
    try:
        same_source = src.is_dir() and rec["source"]["fingerprint"] == fingerprint(src)
    except OSError as e:
        return f"the source cannot be read ({e})"
    return None if same_source else "it was converted from other source content"


def conversion_matches(dst: Path | str, src: Path | str, mode: str, params: Mapping[str, Any]) -> bool:
    """True when DST holds a completed conversion of SRC's current content with these parameters.

    `params` uses the `conversion.json` keys: fp8 `{"block_size": [128, 128]}`; int4
    `{"group_size": G}` plus optional `"ignore"` (defaults to slime's rules); bf16 `{}`. Missing keys take defaults.
    Torch-free and cheap (see `fingerprint`): about 200 KiB read per file of SRC and DST. An unreadable,
    malformed, partial or foreign DST simply does not match.
    """
    return conversion_mismatch(dst, src, mode, params) is None
