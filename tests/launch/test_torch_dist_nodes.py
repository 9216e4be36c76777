"""The torch-dist step across nodes, for real: a two-node Ray cluster on this machine (ray.cluster_utils.Cluster:
two raylets, each its own node to Ray's scheduler), the `recipe-runner torch-dist --nnodes 2` the scripts run, real
torchrun on each node with node 0's address as master, and a stand-in for slime's tool that joins one gloo process
group across both nodes the way the real one does (tests/launch/slime_tools.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from recipe_runner.cli import main
from recipe_runner.models import load_config
from recipe_runner.torch_dist_job import MANIFEST, TRACKER
from tests.launch.conftest import free_port, write_recipes
from tests.launch.slime_tools import tool_log, write_slime_tools

pytest.importorskip("torch.distributed")
cluster_utils = pytest.importorskip("ray.cluster_utils")

MODEL_ARGS = ["--num-layers", "2", "--hidden-size", "256"]
LAYOUT_ARGS = ["--pipeline-model-parallel-size", "2", "--decoder-last-pipeline-num-layers", "1",
               "--expert-model-parallel-size", "1"]


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(GCS address, Job API address, tool log) of a two-node cluster whose workers find this Python's torchrun
    first on PATH."""
    log = tmp_path_factory.mktemp("nodes") / "tools.log"
    saved = dict(os.environ)
    os.environ.update(RR_TOOL_LOG=str(log), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    dashboard = free_port()
    # its own session dir: a Ray job finds its cluster through the session dir's current-cluster file, which another
    # Ray on this machine (a parallel test run) would otherwise overwrite
    temp_dir = tempfile.mkdtemp(prefix="rr-ray-", dir="/tmp")
    cluster = cluster_utils.Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": True, "dashboard_host": "127.0.0.1", "dashboard_port": dashboard,
        "dashboard_agent_listen_port": free_port(), "temp_dir": temp_dir})
    try:
        cluster.add_node(num_cpus=1, dashboard_agent_listen_port=free_port())
        cluster.wait_for_nodes()
        yield cluster.address, f"http://127.0.0.1:{dashboard}", log
    finally:
        cluster.shutdown()
        shutil.rmtree(temp_dir, ignore_errors=True)
        os.environ.clear()
        os.environ.update(saved)


def command(tmp_path: Path, address: str) -> list[str]:
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    slime = write_slime_tools(tmp_path / "slime")
    return ["torch-dist", "--slime", str(slime), "--nproc-per-node", "1", "--nnodes", "2", "--gpus-per-node", "0",
            "--ray-address", address, str(hf), str(tmp_path / "dist"), "--", *MODEL_ARGS, *LAYOUT_ARGS]


def ranks(log: Path) -> list[dict]:
    """What each rank of the stand-in logged, in the order they logged it."""
    path = Path(f"{log}.ranks")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def test_torchrun_on_each_node_joins_one_process_group(two_nodes: tuple[str, str, Path], tmp_path: Path) -> None:
    address, _, log = two_nodes
    argv = command(tmp_path, address)
    assert main(argv) == 0
    dist = tmp_path / "dist"
    assert (dist / TRACKER).read_text() == "release"
    assert sorted(p.name for p in (dist / "release").iterdir()) == ["__0_0.distcp", "__1_0.distcp"]
    record = json.loads((dist / MANIFEST).read_text())
    assert (record["model_args"], record["layout_args"], record["nnodes"]) == (MODEL_ARGS, LAYOUT_ARGS, 2)
    seen = sorted(ranks(log), key=lambda r: r["rank"])
    # one process per node, both in one world: the all-reduce summed both ranks; node rank = group rank
    assert [(r["rank"], r["group_rank"], r["world"], r["sum"]) for r in seen] == [(0, 0, 2, 1), (1, 1, 2, 1)]
    assert len({r["master"] for r in seen}) == 1
    tool = seen[0]["argv"]
    assert tool[:len(MODEL_ARGS) + len(LAYOUT_ARGS)] == MODEL_ARGS + LAYOUT_ARGS  # the layout reached the tool
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dist", "hf", "slime"]  # the temp dir is gone
    assert main(argv) == 0  # done: skipped without Ray
    assert len(tool_log(log)) == 2


def test_one_node_failing_stops_the_other_and_writes_nothing(two_nodes: tuple[str, str, Path], tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    address, _, log = two_nodes
    before = len(ranks(log))
    assert main([*command(tmp_path, address), "--rr-fail-rank", "1"]) == 1
    err = capsys.readouterr().err
    assert "error: torch-dist: node" in err and "was not written" in err
    assert not (tmp_path / "dist").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "slime"]
    assert len(ranks(log)) == before  # no rank got past the group
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert not left.strip(), f"torchrun left running: {left}"


def test_launch_runs_it_as_a_ray_job_across_the_nodes(two_nodes: tuple[str, str, Path], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`launch`'s path: torch_dist_job's source as a Ray job (`python3 -c SOURCE SPEC`), which finds its cluster
    itself and runs a torchrun on each node; then pre-flight and the job."""
    _, dashboard, log = two_nodes
    before = len(ranks(log))
    recipes = write_recipes(tmp_path)
    write_slime_tools(tmp_path)  # launch.working_dir of tiny-launch is tmp_path
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps(load_config("qwen3-4b")))  # the recipe's model
    overrides = ["cluster.nodes=2", "checkpoints.torch_dist_nodes=2", "checkpoints.ref_load=null",
                 f"checkpoints.torch_dist={tmp_path}/made_torch_dist"]
    assert main(["launch", "tiny-launch", *overrides, "--recipes-dir", str(recipes), "--address", dashboard]) == 0
    out = capsys.readouterr().out
    assert out.index("torch-dist: job") < out.index("2 nodes, master") < out.index("pre-flight:") < \
        out.index("submit: job")
    assert (tmp_path / "made_torch_dist" / TRACKER).read_text() == "release"
    seen = ranks(log)[before:]
    assert sorted((r["rank"], r["world"]) for r in seen) == [(0, 2), (1, 2)]
    assert "--num-layers" in seen[0]["argv"]
