"""The generated shell and sbatch scripts, run by bash with stub srun/scontrol/hostname/ray on PATH: what they
start and submit, bounded waits that fail fast when a Ray process dies, the allocation check, IPv6 heads."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.plan import Plan
from recipe_runner.render import render
from tests.launch.conftest import write_recipes
from tests.launch.stubs import run_script

TWO_NODES = ["cluster.nodes=2", "cluster.gpus_per_node=4", "cluster.ray.num_gpus=null", "cluster.ray.port=6390",
             "cluster.ray.ready_timeout_s=3"]
SLURM = {"SLURM_NNODES": "2", "SLURM_JOB_NODELIST": "n[1-2]", "STUB_NODES": "n1 n2", "STUB_IPS": "10.0.0.1",
         "STUB_GPUS": "4"}


@pytest.fixture(scope="module")
def recipes(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_recipes(tmp_path_factory.mktemp("recipes")))


def fresh(path: Path) -> Path:
    path.mkdir()
    return path


def two_nodes(recipes: str, *more: str) -> Plan:
    return plan("tiny-launch", [*TWO_NODES, *more], recipes)


def test_sbatch_starts_a_head_and_a_worker_waits_and_submits_the_plan(tmp_path: Path, recipes: str) -> None:
    p = two_nodes(recipes)
    r = run_script(tmp_path, render(p, "sbatch"), SLURM_CPUS_PER_TASK="16", **SLURM)
    assert r.code == 0, r.err
    head, worker = r.starts()
    assert head[head.index("--node-ip-address") + 1] == "10.0.0.1"
    assert worker[worker.index("--address") + 1] == "10.0.0.1:6390"
    assert all(s[s.index("--num-gpus") + 1] == "4" and s[s.index("--num-cpus") + 1] == "16" for s in r.starts())
    assert r.submits() == [p.step("submit").argv]
    assert "2 node(s) and 8 GPU(s) have joined" in r.err


def test_sbatch_head_failure_ends_the_job_at_once(tmp_path: Path, recipes: str) -> None:
    start = time.monotonic()
    r = run_script(tmp_path, render(two_nodes(recipes, "cluster.ray.ready_timeout_s=600"), "sbatch"),
                   STUB_HEAD_FAIL="1", **SLURM)
    assert r.code == 1 and "a Ray process this script started" in r.err and "has exited" in r.err
    assert time.monotonic() - start < 30  # not the 600 s limit, and not forever
    assert not r.submits() and len(r.starts()) == 1  # no worker dials a dead head


def test_sbatch_missing_worker_is_a_bounded_failure(tmp_path: Path, recipes: str) -> None:
    r = run_script(tmp_path, render(two_nodes(recipes), "sbatch"), STUB_MAX_NODES="1", **SLURM)
    assert r.code == 1 and "after 3s Ray at 10.0.0.1:6390 has 1 of 2 node(s) and 4 of 8 GPU(s)" in r.err
    assert not r.submits()
    assert sum(c[1] == "status" for c in r.calls) < 10


def test_sbatch_refuses_an_allocation_of_another_size(tmp_path: Path, recipes: str) -> None:
    r = run_script(tmp_path, render(two_nodes(recipes), "sbatch"),
                   **{**SLURM, "SLURM_NNODES": "8", "STUB_NODES": " ".join(f"n{i}" for i in range(8))})
    assert r.code == 2 and "this allocation has 8 node(s); the plan is for exactly 2" in r.err
    assert not r.calls
    r = run_script(fresh(tmp_path / "gpus"), render(two_nodes(recipes), "sbatch"), SLURM_GPUS_ON_NODE="2", **SLURM)
    assert r.code == 2 and "gives 2 GPU(s) per node; the plan needs 4" in r.err


def test_sbatch_ipv6_head_is_bracketed_where_a_port_follows(tmp_path: Path, recipes: str) -> None:
    r = run_script(tmp_path, render(two_nodes(recipes), "sbatch"), **{**SLURM, "STUB_IPS": "fd00::5"})
    assert r.code == 0, r.err
    head, worker = r.starts()
    assert head[head.index("--node-ip-address") + 1] == "fd00::5"
    assert worker[worker.index("--address") + 1] == "[fd00::5]:6390"
    assert ["ray", "status", "--address", "[fd00::5]:6390"] in r.calls


def test_sbatch_prefers_an_ipv4_address_of_the_head(tmp_path: Path, recipes: str) -> None:
    r = run_script(tmp_path, render(two_nodes(recipes), "sbatch"), **{**SLURM, "STUB_IPS": "fd00::5 10.0.0.9"})
    assert r.code == 0, r.err
    assert r.starts()[1][r.starts()[1].index("--address") + 1] == "10.0.0.9:6390"


def test_sbatch_sets_the_time_limit_from_the_recipe(recipes: str) -> None:
    assert "#SBATCH --time=1440\n" in render(two_nodes(recipes), "sbatch")
    assert "#SBATCH --time=90\n" in render(two_nodes(recipes, "cluster.time_limit_minutes=90"), "sbatch")


@pytest.mark.parametrize("fmt", ["sbatch", "shell"])
def test_zero_ray_gpus_waits_for_nodes_only(tmp_path: Path, recipes: str, fmt: str) -> None:
    p = two_nodes(recipes, "cluster.ray.num_gpus=0", "cluster.ray.head_ip=10.0.0.1")
    r = run_script(tmp_path, render(p, fmt), STUB_EXTRA_NODES="1" if fmt == "shell" else "0",
                   **{**SLURM, "STUB_GPUS": "0"})
    assert r.code == 0, r.err
    assert "integer expression expected" not in r.err and "2 node(s) and 0 GPU(s) have joined" in r.err
    assert all(s[s.index("--num-gpus") + 1] == "0" for s in r.starts())


def test_shell_waits_for_the_other_nodes_then_submits(tmp_path: Path, recipes: str) -> None:
    p = two_nodes(recipes, "cluster.ray.head_ip=10.0.0.1")
    r = run_script(tmp_path, render(p, "shell"), STUB_EXTRA_NODES="1", STUB_GPUS="4")
    assert r.code == 0, r.err
    assert r.submits() == [p.step("submit").argv]
    r = run_script(fresh(tmp_path / "alone"), render(p, "shell"), STUB_GPUS="4")
    assert r.code == 1 and "has 1 of 2 node(s) and 4 of 8 GPU(s)" in r.err and not r.submits()


def test_shell_stops_waiting_when_its_head_stops_answering(tmp_path: Path, recipes: str) -> None:
    p = two_nodes(recipes, "cluster.ray.head_ip=10.0.0.1", "cluster.ray.ready_timeout_s=600")
    r = run_script(tmp_path, render(p, "shell"), STUB_GPUS="4", STUB_HEAD_DIES_AFTER="1")
    assert r.code == 1 and "the Ray head at 10.0.0.1:6390 stopped answering" in r.err and not r.submits()


def test_shell_ipv6_head_ip_is_bracketed(recipes: str) -> None:
    p = two_nodes(recipes, "cluster.ray.head_ip=fd00::1")
    assert p.step("ray-workers").argv[3] == "[fd00::1]:6390"
    assert "wait_for_ray '[fd00::1]:6390' 2 8 3" in render(p, "shell")
    assert p.dashboard_address.startswith("http://[fd00::1]:")


def test_multi_node_shell_without_a_head_ip_is_exit_2(recipes: str, capsys) -> None:
    assert main(["plan", "tiny-launch", *TWO_NODES, "--format", "shell", "--recipes-dir", recipes]) == 2
    err = capsys.readouterr().err
    assert "cluster.ray.head_ip: is not set, and the plan has 2 nodes" in err and "Traceback" not in err
    # sbatch and rayjob find the head at run time: no warning about it
    assert main(["plan", "tiny-launch", *TWO_NODES, "--format", "sbatch", "--recipes-dir", recipes]) == 0
    assert "head" not in capsys.readouterr().err


RECIPE_RUNNER_LOG = """\
#!{python}
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps(["recipe-runner", *sys.argv[1:]]) + "\\n")
"""


@pytest.mark.parametrize("fmt", ["sbatch", "shell"])
def test_a_multi_node_torch_dist_runs_once_the_nodes_joined(tmp_path: Path, recipes: str, fmt: str) -> None:
    """Across nodes the step goes through Ray: after every node joined, before the job, with the head's address."""
    p = two_nodes(recipes, "checkpoints.torch_dist_nodes=2", "cluster.ray.head_ip=10.0.0.1")
    rr = tmp_path / "rr-bin"
    rr.mkdir()
    (rr / "recipe-runner").write_text(RECIPE_RUNNER_LOG.format(python=sys.executable))
    (rr / "recipe-runner").chmod(0o755)
    path = f"{tmp_path}/bin:{rr}:{os.environ['PATH']}"
    # sbatch finds the head at run time (10.0.0.7 here), the shell script is told it (cluster.ray.head_ip)
    r = run_script(tmp_path, render(p, fmt), **{**SLURM, "STUB_IPS": "10.0.0.7", "PATH": path}) if fmt == "sbatch" \
        else run_script(tmp_path, render(p, fmt), STUB_EXTRA_NODES="1", STUB_GPUS="4", PATH=path)
    assert r.code == 0, r.err
    order = [c[1] if c[0] == "recipe-runner" else " ".join(c[1:3]) for c in r.calls if c[1] != "status"]
    starts = order.count("start --head") + order.count("start --address")
    assert order[starts:] == ["torch-dist", "job submit"] and starts == (2 if fmt == "sbatch" else 1)
    (dist,) = [c for c in r.calls if c[:2] == ["recipe-runner", "torch-dist"]]
    head = "10.0.0.7" if fmt == "sbatch" else "10.0.0.1"
    assert dist[dist.index("--nnodes") + 1] == "2" and dist[dist.index("--ray-address") + 1] == f"{head}:6390"
    assert "2 node(s) and 8 GPU(s) have joined" in r.err
