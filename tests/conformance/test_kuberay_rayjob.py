"""RayJob renderings against KubeRay's own CRD schema (ray-project/kuberay v1.7.0,
ray-operator/config/crd/bases/ray.io_rayjobs.yaml; unchanged up to feeaf72f).

Skipped unless RR_KUBERAY_CRD names that file. The CRD's openAPIV3Schema becomes a strict JSON Schema: every object
with declared properties refuses others (the API server would prune them: a silently dropped field), unless the CRD
marks it x-kubernetes-preserve-unknown-fields; int-or-string fields take either. The CEL rules
(x-kubernetes-validations) concern deletionStrategy, managedBy and GCS fault tolerance, none of which is rendered.
CI keeps the structural rules this relies on in tests/launch/test_rayjob.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from recipe_runner.api import plan
from recipe_runner.render import render
from tests.launch.kube import DNS_1035, KUBE

CRD = os.environ.get("RR_KUBERAY_CRD")
pytestmark = pytest.mark.skipif(not CRD, reason="set RR_KUBERAY_CRD to KubeRay's ray.io_rayjobs.yaml")
jsonschema = pytest.importorskip("jsonschema")

CASES = {
    "one node": ("qwen3-4b-bf16", []),
    "two nodes, nfs": ("qwen3-30b-a3b-fp8",
                       ["cluster.storage.volumes=[{name:shared,mount_path:/data,nfs:{server:nfs.example,path:/x}}]"]),
    "eight nodes, hostPath + read-only pvc": (
        "qwen3-235b-a22b-int4",
        ["cluster.storage.volumes=[{name:shared,mount_path:/data,host_path:/mnt/data},"
         "{name:models,mount_path:/data/model,pvc:models,read_only:true}]"]),
    "cpu only": ("qwen3-4b-bf16", ["cluster.ray.num_gpus=0"]),
}


def strict(node: object) -> object:
    """OpenAPI v3 structural schema -> JSON Schema that rejects what Kubernetes would prune."""
    if isinstance(node, list):
        return [strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items() if not str(k).startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string") is True and "anyOf" not in out:
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


@pytest.fixture(scope="module")
def validator():
    crd = yaml.safe_load(Path(CRD).read_text())
    assert crd["spec"]["names"]["kind"] == "RayJob"
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(strict(v1["schema"]["openAPIV3Schema"]))


@pytest.mark.parametrize("case", CASES)
def test_rayjob_matches_the_crd_with_no_dropped_field(validator, case: str) -> None:
    recipe, overrides = CASES[case]
    p = plan(recipe, [*KUBE, *overrides])
    doc = yaml.safe_load(render(p, "rayjob"))
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
    assert not errors, "\n".join(errors)
    assert DNS_1035.match(doc["metadata"]["name"]) and len(doc["metadata"]["name"]) <= 47
    cluster = doc["spec"]["rayClusterSpec"]
    groups = [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]
    assert 1 + sum(g.get("replicas", 0) for g in groups[1:]) == p.nodes
    gpus = {g["template"]["spec"]["containers"][0]["resources"]["limits"].get("nvidia.com/gpu", "0") for g in groups}
    assert gpus == {str(p.ray_gpus_per_node)}


def test_the_strict_schema_catches_a_dropped_field_and_a_wrong_type(validator) -> None:
    doc = yaml.safe_load(render(plan("qwen3-4b-bf16", KUBE), "rayjob"))
    doc["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["volumeMount"] = []
    doc["spec"]["ttlSecondsAfterFinished"] = "1h"
    messages = [e.message for e in validator.iter_errors(doc)]
    assert any("'volumeMount' was unexpected" in m for m in messages) and any("'1h'" in m for m in messages)
