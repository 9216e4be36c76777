"""Overrides that make a catalogue recipe renderable as a KubeRay RayJob: pinned image, Ray version, pod size and
a volume holding every path the job uses (the catalogue's paths are under /root, where the image keeps slime, so
the tests move them to /data)."""

from __future__ import annotations

import re

KUBE = [
    "cluster.kuberay.image=registry.example/slime:v0.5.15-cu129",
    "cluster.ray.version=2.49.0",
    "cluster.kuberay.cpus=64",
    "cluster.kuberay.memory=1600Gi",
    "cluster.storage.volumes=[{name:shared,pvc:slime-shared,mount_path:/data}]",
    "checkpoints.hf=/data/model",
    "checkpoints.ref_load=/data/model_torch_dist",
    "checkpoints.save=/data/run",
    "checkpoints.load=/data/run",
    "data.prompt_data=/data/dapo.jsonl",
    "data.eval.datasets={aime:/data/aime.jsonl}",
]
# Kubernetes' IsDNS1035Label (k8s.io/apimachinery/pkg/util/validation/validation.go): at most 63 characters;
# KubeRay further caps RayJob names at 47 (ray-operator/controllers/ray/utils/constant.go:381).
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
