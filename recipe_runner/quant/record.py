"""`conversion.json`: what DST was made from and how, so a launcher can skip a finished conversion."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recipe_runner import __version__
from recipe_runner.errors import UserError

from .fingerprint import fingerprint
from .params import Params, params_from_json

RECORD_NAME = "conversion.json"
# Bumped whenever the converter's output bytes change for the same source and parameters;
# tool versions that produce identical bytes share it, so upgrading the tool does not force a re-run.
FORMAT_VERSION = 1


def record(src: Path, params: Params, source_fingerprint: str, summary: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "tool": "recipe-runner",
        "tool_version": __version__,
        "format_version": FORMAT_VERSION,
        "mode": params.mode,
        "parameters": params.to_json(),
        "source": {"path": str(src), "fingerprint": source_fingerprint},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **summary,
    }


def read_record(dst: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((dst / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def conversion_matches(dst: Path | str, src: Path | str, mode: str, params: Mapping[str, Any]) -> bool:
    """True when DST holds a completed conversion of SRC's current content with these parameters.

    `params` uses the `conversion.json` keys: fp8 `{"block_size": [128, 128]}`; int4
    `{"group_size": G}` plus optional `"ignore"` (defaults to slime's rules). Missing keys take defaults.
    Torch-free and cheap (see `fingerprint`). An unreadable or foreign DST simply does not match.
    """
    dst, src = Path(dst), Path(src)
    rec = read_record(dst)
    if rec is None or rec.get("format_version") != FORMAT_VERSION or rec.get("mode") != mode:
        return False
    try:
        wanted = params_from_json(mode, dict(params)).to_json()
        have = params_from_json(mode, rec.get("parameters") or {}).to_json()
    except (UserError, KeyError, TypeError, ValueError):
        return False
    if wanted != have or not src.is_dir():
        return False
    return rec.get("source", {}).get("fingerprint") == fingerprint(src)
