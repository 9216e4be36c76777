"""compare --project: the W&B public API path, with the real SDK (no W&B server is reachable in CI)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from recipe_runner.compare import Filter, api_filters

COMPARE = [sys.executable, "-m", "recipe_runner.cli", "compare", "--project", "lowprec"]


def _env(tmp_path: Path, **env: str) -> dict[str, str]:
    """The environment without the caller's W&B settings, with HOME (hence ~/.netrc) empty."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    return {**base, "HOME": str(tmp_path), "WANDB_CONFIG_DIR": str(tmp_path), **env}


def _compare(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """`recipe-runner compare --project p` in a fresh process. Its stderr goes to a file, not a pipe: wandb's
    service process inherits it, and the test must wait for compare, not for that process."""
    with tempfile.TemporaryFile("w+") as err:
        r = subprocess.run(COMPARE, env=_env(tmp_path, **env), stdout=subprocess.DEVNULL, stderr=err, timeout=300)
        err.seek(0)
        return subprocess.CompletedProcess(r.args, r.returncode, "", err.read())


def _unreachable() -> str:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (state, ppid, ...); [] when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _state(pid: int) -> str | None:
    """The process's state letter (Z: exited, not yet reaped), None when it is gone."""
    return next(iter(_stat(pid)), None)


def _ends(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while _state(pid) not in (None, "Z"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _connected_service(compare: subprocess.Popen, within: float) -> int:
    """The pid of compare's wandb service, once compare has connected to it: wandb removes the temporary directory
    of the service's `--port-filename` after reading the port (wandb 0.31 sdk/lib/service/service_process.py,
    _launch_server), and connects next."""
    deadline = time.monotonic() + within
    while compare.poll() is None and time.monotonic() < deadline:
        for pid in _children(compare.pid):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            port_file = argv[argv.index(b"--port-filename") + 1] if b"--port-filename" in argv else None
            if port_file and not Path(os.fsdecode(port_file)).parent.exists():
                return pid
        time.sleep(0.02)
    raise AssertionError(f"compare connected to no wandb service within {within} s")


def _children(pid: int) -> list[int]:
    return [int(d.name) for d in Path("/proc").glob("[0-9]*") if _stat(d.name)[1:2] == [str(pid)]]


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
    r = _compare(tmp_path, WANDB_API_KEY="x" * 40, WANDB_BASE_URL=_unreachable())
    assert r.returncode == 1, r.stderr
    assert "W&B API request for project 'lowprec' failed" in r.stderr and "Traceback" not in r.stderr


def test_a_stuck_wandb_service_does_not_hold_compare_at_exit(tmp_path):
    """wandb's exit hook waits for its service process with no limit (wandb 0.31
    sdk/lib/service/service_connection.py, ServiceConnection.teardown); under CI load a busy service held compare
    for over 300 s after it had printed its error. Here the service is frozen (SIGSTOP) once compare has connected:
    compare still exits 1 with its message, and the service goes away once it can see that compare has."""
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(COMPARE, env=_env(tmp_path, WANDB_API_KEY="x" * 40, WANDB_BASE_URL=_unreachable()),
                                stdout=subprocess.DEVNULL, stderr=err)
        service = _connected_service(proc, within=60)
        os.kill(service, signal.SIGSTOP)
        try:
            rc = proc.wait(timeout=120)
        finally:
            proc.kill()
            os.kill(service, signal.SIGCONT)
        err.seek(0)
        message = err.read()
    assert rc == 1, message
    assert "W&B API request for project 'lowprec' failed" in message and "Traceback" not in message
    if not _ends(service, within=60):
        os.kill(service, signal.SIGKILL)
        raise AssertionError("the wandb service outlived compare by 60 s")
