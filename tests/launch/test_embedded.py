"""No --address and no RAY_ADDRESS: launch starts the plan's `ray start --head` and stops exactly that head."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from recipe_runner.cli import main
from tests.launch.conftest import free_port, read_record, write_recipes


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_embedded_head_is_started_and_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    gcs, dashboard = free_port(), free_port()
    recipes = write_recipes(tmp_path, port=gcs, dashboard_port=dashboard)
    assert main(["launch", "tiny-launch", "--recipes-dir", str(recipes)]) == 0
    assert read_record(tmp_path)["argv"][:2] == ["--actor-num-nodes", "1"]
    out = capsys.readouterr()
    assert "starting a local Ray head" in out.out and "stopping the local Ray head" in out.err
    assert not _listening(dashboard) and not _listening(gcs)
