"""A real 2-node Ray cluster on this machine: two raylets on 127.0.0.1 (own temp dirs), each declaring one fake GPU.

The GPU side of the stack is faked where pre-flight looks for it: an `nvidia-smi` on the raylets' PATH that lists
one H200, and empty `slime`, `megatron.core` and `sglang` packages on launch.pythonpath.

The job is a stub that asks for slime's placement group ({"GPU": 1, "CPU": 1} x nodes x GPUs per node, PACK;
THUDM/slime@624b824a:slime/ray/placement_group.py:100-137) and records its argv, env and where the bundles went.
One cluster for the module; the tests run in order: worker missing, worker joins, then status/logs/stop.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.launch import submission_id
from recipe_runner.render.shell import RAY_READY
from tests.launch.conftest import free_port, wait_for_job_api, write_recipes

RAY = str(Path(sys.executable).parent / "ray")
NODE = ["--num-gpus", "1", "--num-cpus", "2", "--object-store-memory", str(80 * 1024**2), "--disable-usage-stats",
        "--block"]
TWO_NODES = ["cluster.nodes=2", "cluster.gpus_per_node=1", "cluster.ray.num_gpus=null"]
PG_ENTRY = """\
import json, os, sys
import ray
from ray.util.placement_group import placement_group, placement_group_table

argv = sys.argv[1:]
n = int(argv[argv.index("--actor-num-nodes") + 1]) * int(argv[argv.index("--actor-num-gpus-per-node") + 1])
ray.init()
pg = placement_group([{"GPU": 1, "CPU": 1}] * n, strategy="PACK")
ray.get(pg.ready(), timeout=60)
nodes = set(placement_group_table(pg)["bundles_to_node_id"].values())
with open(os.environ["RR_TEST_OUT"], "w") as f:
    json.dump({"argv": argv, "env": dict(os.environ), "bundles": n, "nodes": len(nodes)}, f)
print("placed", n, "bundles on", len(nodes), "nodes")
"""
NVIDIA_SMI = "#!/bin/sh\necho 'NVIDIA H200'\n"


class Cluster:
    """The head (started by the fixture) and, on request, the second raylet."""

    def __init__(self, root: Path) -> None:
        self.root, self.gcs, self.dashboard = root, free_port(), free_port()
        self.address = f"http://127.0.0.1:{self.dashboard}"
        self.procs: list[subprocess.Popen] = []
        self.temps: list[str] = []
        (root / "bin").mkdir()
        (root / "bin" / "nvidia-smi").write_text(NVIDIA_SMI)
        (root / "bin" / "nvidia-smi").chmod(0o755)
        self.head = self._start("head", ["--head", "--node-ip-address", "127.0.0.1", "--port", str(self.gcs),
                                         "--dashboard-host", "127.0.0.1", "--dashboard-port", str(self.dashboard),
                                         "--ray-client-server-port", str(free_port())])

    def join_worker(self) -> None:
        self._start("worker", ["--address", f"127.0.0.1:{self.gcs}", "--node-ip-address", "127.0.0.1"])

    def _start(self, name: str, args: list[str]) -> subprocess.Popen:
        temp = tempfile.mkdtemp(prefix=f"rr-{name}-", dir="/tmp")  # short: Ray's socket paths have a length limit
        self.temps.append(temp)
        agent = ["--dashboard-agent-listen-port", str(free_port())]  # two raylets here: not both on Ray's 52365
        with (self.root / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen([RAY, "start", *args, *agent, "--temp-dir", temp, *NODE], stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**{k: v for k, v in os.environ.items() if not k.startswith("RAY_")},
                                         "PATH": f"{self.root / 'bin'}:{os.environ['PATH']}"})
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):  # the worker first, then the head
            proc.terminate()
            proc.wait(60)
        for temp in self.temps:
            shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        wait_for_job_api(c.address, c.head)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def recipes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("recipes")
    recipes = write_recipes(root)
    (root / "entry.py").write_text(PG_ENTRY)
    for package in ("slime", "megatron/core", "sglang"):
        (root / "lib" / package).mkdir(parents=True)
        (root / "lib" / package / "__init__.py").write_text("")
    return recipes


def launch(recipes: Path, *args: str) -> int:
    return main(["launch", "tiny-launch", *TWO_NODES, "--recipes-dir", str(recipes), *args])


def test_a_missing_worker_is_a_bounded_exit_2_naming_what_is_short(cluster: Cluster, recipes: Path, capsys) -> None:
    start = time.monotonic()
    assert launch(recipes, "--address", cluster.address, "--wait-for-resources", "2") == 2
    assert time.monotonic() - start < 60
    err = capsys.readouterr().err
    assert "is short of what the plan needs after waiting 2s" in err
    assert "nodes: 1 alive node(s); the plan has cluster.nodes = 2" in err
    assert "GPU: 1 GPU(s) in the cluster; slime's placement group needs 2" in err
    assert "Traceback" not in err and not (recipes.parent / "record.json").exists()


def test_address_wins_over_env_and_the_job_runs_once_the_worker_joins(
        cluster: Cluster, recipes: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("RAY_ADDRESS", dead)
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", dead)
    cluster.join_worker()
    assert launch(recipes, "--address", cluster.address, "--wait-for-resources", "120") == 0
    out = capsys.readouterr()
    assert f"ray: {cluster.address} (from --address)" in out.out and dead not in out.out + out.err
    assert "resources: 2 alive node(s)" in out.out
    got = json.loads((recipes.parent / "record.json").read_text())
    p = plan("tiny-launch", TWO_NODES, str(recipes))
    assert got["argv"] == p.train_args and {k: got["env"].get(k) for k in p.env} == p.env
    assert (got["bundles"], got["nodes"]) == (2, 2)  # slime's placement group spans both raylets


def test_the_scripts_readiness_probe_reads_real_ray_status(cluster: Cluster) -> None:
    out = subprocess.run(["bash", "-c", f"{RAY_READY}\nray_ready 127.0.0.1:{cluster.gcs}"], capture_output=True,
                         text=True, check=True, env={**os.environ, "PATH": f"{Path(RAY).parent}:{os.environ['PATH']}"})
    assert out.stdout.split() == ["2", "2"]


def test_status_logs_stop_and_an_unknown_job_id(cluster: Cluster, recipes: Path, capsys,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", cluster.address)  # no --address: the environment names the cluster
    sid = submission_id(plan("tiny-launch", TWO_NODES, str(recipes)))
    assert main(["status", sid]) == 0 and f"{sid}  SUCCEEDED" in capsys.readouterr().out
    assert main(["logs", sid]) == 0 and "placed 2 bundles on 2 nodes" in capsys.readouterr().out
    assert main(["stop", sid]) == 0 and "not running" in capsys.readouterr().out
    for command in (["status"], ["logs"], ["logs", "--follow"], ["stop"]):
        assert main([*command, "no-such-job"]) == 2
        err = capsys.readouterr().err
        assert "JOB_ID: no job 'no-such-job' at" in err and "Traceback" not in err
