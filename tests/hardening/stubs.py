"""Generated scripts run for real by bash, with stub binaries on PATH that log their argv.

PATH holds only the stubs and the few real tools the scripts use (TOOLS), so any other command a
script ran (an injected `touch`, `curl` ...) fails and shows. `pwned` is a stub too: hostile test strings
call it, so a value that became code leaves its trace in the log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

HEAD_IP = "10.9.8.7"  # what `hostname --ip-address` answers on the Slurm head node
PROBES = ("srun", "scontrol", "hostname", "python3")  # asked by the scripts, not steps of the plan
LOG = 'printf "%s\\0" "$#" "${0##*/}" "$@" >> "$STUB_LOG"\n'
# `ray start --block` runs like a raylet (sleeps) and counts itself; `ray status` answers in the autoscaler
# summary layout with STUB_NODES nodes once a `ray start` ran (the other nodes of a shell plan join by hand)
RAY = (LOG + 'if [ "$1" = start ]; then\n  echo x >> "$STUB_LOG.starts"\n'
       '  case " $* " in *" --block "*) exec sleep 60 ;; esac\n'
       'elif [ "$1" = status ]; then\n  [ -s "$STUB_LOG.starts" ] || exit 1\n'
       '  echo "Active:"\n  for ((i = 0; i < STUB_NODES; i++)); do echo " 1 node_$i"; done\n'
       '  printf "Total Usage:\\n 0.0/%s.0 GPU\\n" "$STUB_GPUS"\nfi\n')
STUBS = {
    "ray": RAY,
    "scontrol": LOG + 'if [ "$1 $2" = "show hostnames" ]; then\n'
                      '  for ((i = 0; i < STUB_NODES; i++)); do echo "node$i"; done\nfi\n',
    "hostname": LOG + f'echo "{HEAD_IP} fe80::1"\n',
    # srun [options] CMD ...: run CMD, as on the allocated node
    "srun": LOG + 'while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do\n'
                  '  if [ "$1" = -w ]; then shift; fi; shift\ndone\nexec "$@"\n',
    "python3": LOG + 'exec "$REAL_PYTHON" "$@"\n',
    "sbatch": LOG, "kubectl": LOG, "recipe-runner": LOG, "pwned": LOG,
}
TOOLS = ("awk", "sleep", "mkdir", "dirname")  # the real tools the scripts use


def install(root: Path) -> Path:
    """A bin dir with the stubs and the allowed real tools; returns it."""
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in STUBS.items():
        path = bin_dir / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(0o755)
    for tool in TOOLS:
        target = bin_dir / tool
        if not target.exists():
            target.symlink_to(shutil.which(tool))
    return bin_dir


def run(script: str, root: Path, nodes: int = 1, gpus: int = 8, env: dict[str, str] | None = None
        ) -> list[list[str]]:
    """Run `script` with bash under the stubs; every stub call as [name, *argv], in order."""
    bin_dir = install(root)
    log = root / "calls.log"
    log.write_bytes(b"")
    path = root / "script.sh"
    path.write_text(script)
    base = {"PATH": str(bin_dir), "STUB_LOG": str(log), "STUB_GPUS": str(nodes * gpus), "STUB_NODES": str(nodes),
            "SLURM_JOB_NODELIST": f"node[0-{nodes - 1}]", "SLURM_SUBMIT_DIR": str(root), "SLURM_NNODES": str(nodes),
            "REAL_PYTHON": sys.executable, "HOME": str(root),
            "LC_ALL": "C.UTF-8"}
    err = root / "stderr.txt"
    with err.open("wb") as f:  # a file, not a pipe: the backgrounded `ray start --block`s would hold a pipe open
        proc = subprocess.Popen(["/bin/bash", str(path)], env={**base, **(env or {})}, stdout=subprocess.DEVNULL,
                                stderr=f, cwd=root, start_new_session=True)
        try:
            code = proc.wait(60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    assert code == 0, err.read_text(errors="replace")[-2000:]
    return parse(log.read_bytes())


def parse(data: bytes) -> list[list[str]]:
    fields = data.split(b"\0")[:-1]
    calls, i = [], 0
    while i < len(fields):
        n = int(fields[i])
        calls.append([f.decode("utf-8", "surrogateescape") for f in fields[i + 1:i + 2 + n]])
        i += 2 + n
    return calls


def steps_run(calls: list[list[str]]) -> list[list[str]]:
    """The calls that are plan steps: without the probes and the `ray status` polls."""
    return [c for c in calls if c[0] not in PROBES and c[:2] != ["ray", "status"]]


def bash_n(script: str, root: Path) -> None:
    path = root / "syntax.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
