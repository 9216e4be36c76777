"""A real local Ray head (CPU only, one per test module) and a recipes dir whose job is a small recording script."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray.job_submission")

ENTRYPOINT = """\
import json, os, sys
out = {"argv": sys.argv[1:], "env": dict(os.environ)}
with open(os.environ["RR_TEST_OUT"], "w") as f:
    json.dump(out, f)
print("recorded", len(sys.argv) - 1, "args")
sys.exit(int(os.environ.get("RR_TEST_EXIT", "0")))
"""

RECIPE = """\
defaults:
  - model: qwen3-4b
  - precision: bf16
  - cluster: local-cpu
  - algorithm: grpo
  - data: dapo-math-17k
  - _self_

name: tiny-launch
parallel: {{tensor: 1}}
rollout: {{gpus_per_engine: 1, batch_size: 4, num_rollout: 1, global_batch_size: 32, max_response_len: 256}}
training: {{max_tokens_per_gpu: 1024}}
checkpoints: {{hf: {root}/hf, ref_load: {root}/torch_dist}}
cluster: {{ray: {{port: {port}, dashboard_port: {dashboard_port}}}}}
launch:
  entrypoint: {root}/entry.py
  working_dir: {root}
  pythonpath: [{root}/lib]
  env: {{RR_TEST_OUT: {root}/record.json, RR_TEST_NOTE: "two words; 'quoted' & | *"}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_recipes(root: Path, port: int | None = None, dashboard_port: int | None = None) -> Path:
    """A recipes dir with `tiny-launch`; the ports matter only when launch starts its own head. Its torch_dist
    exists (Megatron's tracker, as a hand-made one has it), so the plan's torch-dist step skips itself."""
    (root / "entry.py").write_text(ENTRYPOINT)
    (root / "torch_dist").mkdir(exist_ok=True)
    (root / "torch_dist" / "latest_checkpointed_iteration.txt").write_text("release")
    (root / "lib").mkdir(exist_ok=True)
    recipes = root / "recipes"
    recipes.mkdir()
    (recipes / "tiny-launch.yaml").write_text(RECIPE.format(root=root, port=port or free_port(),
                                                            dashboard_port=dashboard_port or free_port()))
    return recipes


def wait_for_job_api(address: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Until the Job API answers and lists the head as an alive node (the node registers a little later)."""
    from ray.job_submission import JobSubmissionClient
    from ray.util.state import list_nodes

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the test's Ray head exited"
        try:
            JobSubmissionClient(address)
            if list_nodes(address=address, filters=[("state", "=", "ALIVE")]):
                return
        except Exception:  # noqa: BLE001 - not up yet
            pass
        time.sleep(0.5)
    raise TimeoutError(address)


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory):
    """One CPU-only head per module, stopped by terminating the `ray start --block` we started. Its job agent gets a
    free port: Ray's default (52365) may be held by another Ray on this machine, and then no job can be submitted."""
    port, dash = free_port(), free_port()
    log = tmp_path_factory.mktemp("ray") / "head.log"
    with log.open("wb") as f:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--head", "--port", str(port), "--num-gpus", "0",
             "--num-cpus", "2", "--object-store-memory", str(100 * 1024**2), "--dashboard-host", "127.0.0.1",
             "--dashboard-port", str(dash), "--dashboard-agent-listen-port", str(free_port()),
             "--disable-usage-stats", "--block"],
            stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        wait_for_job_api(address, proc)
        yield address
    finally:
        proc.terminate()
        proc.wait(60)


def read_record(root: Path) -> dict:
    return json.loads((root / "record.json").read_text())
