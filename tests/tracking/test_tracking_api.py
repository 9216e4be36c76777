"""compare --project: the W&B public API path, with the real SDK (no W&B server is reachable in CI)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from recipe_runner.compare import Filter, api_filters


def _compare(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """`recipe-runner compare --project p` in a fresh process, with HOME (hence ~/.netrc) empty."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    return subprocess.run([sys.executable, "-m", "recipe_runner.cli", "compare", "--project", "lowprec"],
                          env={**base, "HOME": str(tmp_path), "WANDB_CONFIG_DIR": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=300)


def test_api_filters_ask_for_the_fields_compare_filters_offline():
    where = Filter(sweep="s1", group="g", tags=("g128",), modes=("bf16", "int4-qat"))
    assert api_filters(where, ("abc",)) == {
        "config.recipe_runner.sweep": "s1", "group": "g", "tags": {"$in": ["g128"]},
        "config.recipe_runner.mode": {"$in": ["bf16", "int4-qat"]}, "name": {"$in": ["abc"]}}


def test_no_api_key_exits_2_with_a_message(tmp_path):
    r = _compare(tmp_path)
    assert r.returncode == 2, r.stderr
    assert "WANDB_API_KEY" in r.stderr and "Traceback" not in r.stderr


def test_no_network_exits_1_with_a_message(tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = _compare(tmp_path, WANDB_API_KEY="x" * 40, WANDB_BASE_URL=f"http://127.0.0.1:{port}")
    assert r.returncode == 1, r.stderr
    assert "W&B API request for project 'lowprec' failed" in r.stderr and "Traceback" not in r.stderr
