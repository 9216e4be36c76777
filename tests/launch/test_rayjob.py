"""The RayJob's structural rules that KubeRay's CRD and controller rely on (the CRD itself: tests/conformance/):
storage on every pod and every job path under a mount, resources, TTL and deadline, pinned image, names.

One composed plan per module; variants change its `cluster` data (what the recipe's cluster block resolves to)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.errors import UserError
from recipe_runner.plan import Plan
from recipe_runner.render import render
from recipe_runner.render.rayjob import MAX_NAME, job_name
from tests.launch.conftest import write_recipes
from tests.launch.kube import DNS_1035, KUBE


@pytest.fixture(scope="module")
def two_nodes() -> Plan:
    return plan("qwen3-30b-a3b-fp8", [*KUBE, "cluster.time_limit_minutes=90",
                                      "cluster.kuberay.ttl_seconds_after_finished=600"])


def variant(p: Plan, **cluster: object) -> Plan:
    """The plan with some `cluster` keys (nested with __: kuberay__image) set to other values."""
    data = copy.deepcopy(p.cluster)
    for key, value in cluster.items():
        *parents, leaf = key.split("__")
        node = data
        for k in parents:
            node = node[k]
        node[leaf] = value
    return dataclasses.replace(p, cluster=data)


def pods(doc: dict) -> list[dict]:
    cluster = doc["spec"]["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]
    return [g["template"]["spec"] for g in groups]


def problems(p: Plan) -> dict[str, str]:
    with pytest.raises(UserError) as e:
        render(p, "rayjob")
    return {pr.where: pr.message for pr in e.value.problems}


def test_every_pod_mounts_the_storage(two_nodes: Plan) -> None:
    doc = yaml.safe_load(render(two_nodes, "rayjob"))
    assert len(pods(doc)) == 2  # head and one worker
    for spec in pods(doc):
        assert {"name": "shared", "persistentVolumeClaim": {"claimName": "slime-shared", "readOnly": False}} \
            in spec["volumes"]
        mounts = spec["containers"][0]["volumeMounts"]
        assert {"name": "shared", "mountPath": "/data", "readOnly": False} in mounts
        assert {m["name"] for m in mounts} <= {v["name"] for v in spec["volumes"]}


@pytest.mark.parametrize(("source", "expected"), [
    ({"host_path": "/mnt/fast"}, {"hostPath": {"path": "/mnt/fast", "type": "Directory"}}),
    ({"nfs": {"server": "nfs.example", "path": "/export/slime"}},
     {"nfs": {"server": "nfs.example", "path": "/export/slime", "readOnly": False}}),
])
def test_host_path_and_nfs_volumes(two_nodes: Plan, source: dict, expected: dict) -> None:
    vol = {"name": "shared", "mount_path": "/data", "pvc": None, "host_path": None, "nfs": None, "read_only": False}
    doc = yaml.safe_load(render(variant(two_nodes, storage__volumes=[{**vol, **source}]), "rayjob"))
    assert all({"name": "shared", **expected} in spec["volumes"] for spec in pods(doc))


def test_every_job_path_must_be_on_a_mount(two_nodes: Plan) -> None:
    moved = dataclasses.replace(two_nodes, paths={**two_nodes.paths, "checkpoints.save": "/scratch/run"})
    assert problems(moved) == {"checkpoints.save": "/scratch/run is on no volume of cluster.storage (mounts: /data)"}
    no_storage = problems(variant(two_nodes, storage__volumes=[]))
    assert set(no_storage) == set(two_nodes.paths) and "checkpoints.save" in no_storage
    vol = {**two_nodes.cluster["storage"]["volumes"][0], "read_only": True}
    assert problems(variant(two_nodes, storage__volumes=[vol])) == {
        "checkpoints.save": "/data/run is on the read-only volume shared"}


@pytest.mark.parametrize("image", [None, "slimerl/slime:latest", "slimerl/slime", "localhost:5000/slime"])
def test_a_moving_or_missing_image_is_refused(two_nodes: Plan, image: str | None) -> None:
    assert list(problems(variant(two_nodes, kuberay__image=image))) == ["cluster.kuberay.image"]


def test_ray_version_cpus_and_memory_are_required(two_nodes: Plan) -> None:
    p = variant(two_nodes, ray__version=None, kuberay__cpus=None, kuberay__memory=None)
    assert list(problems(p)) == ["cluster.ray.version", "cluster.kuberay.cpus", "cluster.kuberay.memory"]


def test_cli_names_each_missing_field_with_exit_2(capsys) -> None:
    assert main(["plan", "qwen3-4b-bf16", "--format", "rayjob"]) == 2
    err = capsys.readouterr().err
    for field in ("cluster.kuberay.image", "cluster.ray.version", "cluster.kuberay.memory", "checkpoints.save"):
        assert f"  {field}: " in err
    assert "fix:" in err and "Traceback" not in err


def test_resources_ttl_deadline_image_and_ray_version_come_from_the_recipe(two_nodes: Plan) -> None:
    spec = yaml.safe_load(render(two_nodes, "rayjob"))["spec"]
    assert spec["shutdownAfterJobFinishes"] is True and spec["ttlSecondsAfterFinished"] == 600
    assert spec["activeDeadlineSeconds"] == 90 * 60
    assert spec["rayClusterSpec"]["rayVersion"] == "2.49.0"
    for pod in pods({"spec": spec}):
        (c,) = pod["containers"]
        assert c["image"] == "registry.example/slime:v0.5.15-cu129"
        want = {"cpu": "64", "memory": "1600Gi", "nvidia.com/gpu": "8"}
        assert c["resources"] == {"requests": want, "limits": want}


def test_ttl_is_never_zero(two_nodes: Plan, capsys) -> None:
    from recipe_runner.spec import KubeRay

    assert KubeRay().ttl_seconds_after_finished > 0
    assert main(["validate", "qwen3-4b-bf16", "cluster.kuberay.ttl_seconds_after_finished=0"]) == 2
    assert "cluster.kuberay.ttl_seconds_after_finished" in capsys.readouterr().err


def test_a_cpu_only_profile_asks_for_no_gpus(two_nodes: Plan) -> None:
    doc = yaml.safe_load(render(variant(two_nodes, ray__num_gpus=0), "rayjob"))
    assert all("nvidia.com/gpu" not in p["containers"][0]["resources"]["limits"] for p in pods(doc))
    assert doc["spec"]["rayClusterSpec"]["headGroupSpec"]["rayStartParams"]["num-gpus"] == "0"


@pytest.mark.parametrize("name", ["7b-" + "x" * 80, "Qwen3_235B.A22B INT4 (QAT) on 64 H200 GPUs, group 128", "-"])
def test_names_are_dns_1035_at_most_47_and_deterministic(two_nodes: Plan, name: str) -> None:
    p = dataclasses.replace(two_nodes, recipe=name)
    got = job_name(p)
    assert DNS_1035.match(got) and len(got) <= MAX_NAME == 47
    assert got == job_name(dataclasses.replace(two_nodes, recipe=name)) and got.endswith(p.fingerprint[:8])
    assert got != job_name(dataclasses.replace(p, fingerprint="0" * 64))


def test_a_volume_needs_exactly_one_source(tmp_path: Path, capsys) -> None:
    both = "cluster.storage.volumes=[{name:shared,pvc:c,host_path:/x,mount_path:/data}]"
    assert main(["validate", "tiny-launch", both, "--recipes-dir", str(write_recipes(tmp_path))]) == 2
    assert "exactly one of pvc, host_path, nfs" in capsys.readouterr().err
