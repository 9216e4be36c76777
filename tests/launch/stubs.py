"""Stub `srun`, `scontrol`, `hostname` and `ray` for running the generated shell and sbatch scripts with bash.

The stub `ray` logs every call as a JSON line; `ray status` reports one node per `ray start` logged so far (plus
STUB_EXTRA_NODES, at most STUB_MAX_NODES), each with STUB_GPUS GPUs, in Ray's autoscaler-summary layout, and fails
like a dead head when no node is up or after STUB_HEAD_DIES_AFTER polls. `ray start --block` sleeps like a running
raylet; STUB_HEAD_FAIL makes the head's `ray start` exit 1.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RAY = """\
#!{python}
import json, os, sys, time
args = sys.argv[1:]
env = os.environ
with open(env["STUB_LOG"], "a") as f:
    f.write(json.dumps(["ray", *args]) + "\\n")
if args[:1] == ["start"]:
    if "--head" in args and env.get("STUB_HEAD_FAIL"):
        sys.exit("ray start --head: failed (stub)")
    if "--block" in args:
        time.sleep(60)
elif args[:1] == ["status"]:
    with open(env["STUB_LOG"]) as f:
        starts = sum(json.loads(line)[:2] == ["ray", "start"] for line in f)
    nodes = min(starts + int(env.get("STUB_EXTRA_NODES", "0")), int(env.get("STUB_MAX_NODES", "99")))
    with open(env["STUB_LOG"]) as f:
        polls = sum(json.loads(line)[:2] == ["ray", "status"] for line in f)
    if not nodes or polls > int(env.get("STUB_HEAD_DIES_AFTER", "999")):
        sys.exit("ConnectionError: could not find any running Ray instance (stub)")
    gpus = nodes * int(env.get("STUB_GPUS", "0"))
    print("======== Autoscaler status: 2026-01-01 00:00:00 ========\\nNode status\\n" + "-" * 20 + "\\nActive:")
    for i in range(nodes):
        print(f" 1 node_{{i:040x}}")
    print("Pending:\\n (no pending nodes)\\nRecent failures:\\n (no failures)\\n\\nResources\\n" + "-" * 20)
    print("Total Usage:\\n 0.0/" + str(4.0 * nodes) + " CPU" + (f"\\n 0.0/{{gpus:.1f}} GPU" if gpus else ""))
    print(" 0B/10.00GiB memory\\n\\nPending Demands:\\n (no resource demands)")
"""
SRUN = """\
#!/usr/bin/env bash
echo "srun $*" >> "$STUB_LOG.srun"
while [ $# -gt 0 ]; do case "$1" in -w) shift 2 ;; -*) shift ;; *) break ;; esac; done
exec "$@"
"""
SCONTROL = """\
#!/usr/bin/env bash
[ "$1 $2" = "show hostnames" ] && printf '%s\\n' $STUB_NODES
"""
HOSTNAME = """\
#!/usr/bin/env bash
[ "$1" = "--ip-address" ] && echo "$STUB_IPS"
"""


@dataclass(frozen=True)
class Result:
    code: int
    err: str
    calls: list[list[str]]  # every `ray ...` call, in order

    def starts(self) -> list[list[str]]:
        return [c for c in self.calls if c[1] == "start"]

    def submits(self) -> list[list[str]]:
        return [c for c in self.calls if c[1:3] == ["job", "submit"]]


def stub_bin(root: Path) -> Path:
    bin_dir = root / "bin"
    bin_dir.mkdir()
    for name, text in (("ray", RAY.format(python=sys.executable)), ("srun", SRUN), ("scontrol", SCONTROL),
                       ("hostname", HOSTNAME)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def run_script(root: Path, script: str, timeout: float = 60, **env: str) -> Result:
    """Run `script` with bash and the stubs first on PATH; then end whatever it left running (its `--block`s)."""
    path, log = root / "script.sh", root / "ray.log"
    path.write_text(script)
    log.write_text("")
    full = {**os.environ, "PATH": f"{stub_bin(root)}:{os.environ['PATH']}", "STUB_LOG": str(log), **env}
    with (root / "err.txt").open("wb") as err:  # a file, not a pipe: background raylets would hold a pipe open
        proc = subprocess.Popen(["bash", str(path)], env=full, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
        try:
            code = proc.wait(timeout)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    return Result(code, (root / "err.txt").read_text(), calls)
