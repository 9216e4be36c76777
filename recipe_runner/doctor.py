"""Pre-flight: does this node have what the recipe's job needs? Entrypoint, slime/Megatron/SGLang, GPUs, INT4 kernel.

This module is stdlib-only at import time on purpose: `launch` ships its source as a tiny Ray job
(`python3 -c SOURCE REQUEST`) so the checks run on the target cluster, where recipe-runner may not be installed;
`recipe-runner doctor` runs the same checks in-process on the local node.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

MARKER = "RECIPE_RUNNER_PREFLIGHT "
SLIME_REPO = "https://github.com/THUDM/slime"
# (module, what it is, how to get it). The image built from THUDM/slime@624b824a:docker/Dockerfile has all three.
STACK = (
    ("slime", "slime", f"git clone {SLIME_REPO} into launch.working_dir, or use the slimerl/slime image"),
    ("megatron.core", "Megatron-LM (slime's patched build)",
     "clone NVIDIA/Megatron-LM, apply slime's docker/patch/latest/megatron.patch, and list it in launch.pythonpath"),
    ("sglang", "SGLang (slime's patched build)", "install SGLang with slime's docker/patch/latest/sglang*.patch"),
)
INT4_MODULE = "fake_int4_quant_cuda"
# THUDM/slime@624b824a:docker/Dockerfile:161-162 (reference §0)
INT4_BUILD = "cd {slime}/slime/backends/megatron_utils/kernels/int4_qat && pip install . --no-build-isolation"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | missing | skipped
    detail: str
    fix: str = ""


def request(recipe: object) -> dict:
    """What to check for a Recipe, as plain JSON (the probe job's only input)."""
    from recipe_runner.precision import mode

    launch, cluster = recipe.launch, recipe.cluster  # type: ignore[attr-defined]
    entry = launch.entrypoint
    ray_gpus = cluster.gpus_per_node if cluster.ray.num_gpus is None else cluster.ray.num_gpus
    return {
        "entrypoint": entry if os.path.isabs(entry) else os.path.join(launch.working_dir, entry),
        "working_dir": launch.working_dir,
        "pythonpath": list(launch.pythonpath),
        "gpu": cluster.gpu,
        "gpus": ray_gpus,
        "int4_extension": mode(recipe.precision.mode).rollout_format == "int4-pack",  # type: ignore[attr-defined]
        "nodes": cluster.nodes,
        # a CPU-only profile (ray.num_gpus=0) asks for no GPUs; slime itself would never place there
        "bundles": placement_bundles(recipe) if ray_gpus else 0,
    }


def placement_bundles(recipe: object) -> int:
    """Size of slime's one placement group of {"GPU": 1, "CPU": 1} bundles: max(actor, rollout) GPUs when
    colocated, their sum otherwise (THUDM/slime@624b824a:slime/ray/placement_group.py:100-137)."""
    from recipe_runner.layout import layout

    lay, colocate = layout(recipe), recipe.cluster.colocate  # type: ignore[arg-type, attr-defined]
    return max(lay.world, lay.rollout_gpus) if colocate else lay.world + lay.rollout_gpus


def readiness(req: dict, nodes: list[dict[str, float]]) -> list[Check]:
    """The live cluster (each alive node's total resources) against the plan: nodes, and the GPUs and CPUs that
    slime's placement group reserves. A job submitted short of them waits forever in PENDING (slime FAQ Q2)."""
    have = {"nodes": len(nodes), **{k: int(sum(n.get(k, 0) for n in nodes)) for k in ("GPU", "CPU")}}
    need = {"nodes": req["nodes"], "GPU": req["bundles"], "CPU": req["bundles"]}
    what = {"nodes": "alive node(s); the plan has cluster.nodes =",
            "GPU": "GPU(s) in the cluster; slime's placement group needs",
            "CPU": "CPU(s) in the cluster; slime's placement group (1 CPU per GPU bundle) needs"}
    fix = {"nodes": "start the missing nodes (`ray start --address HEAD:PORT`), or wait: --wait-for-resources S",
           "GPU": "join nodes with more GPUs (ray start --num-gpus), or change cluster.nodes / gpus_per_node",
           "CPU": "give Ray more CPUs (ray start --num-cpus)"}
    return [Check(k, "ok" if have[k] >= need[k] else "missing", f"{have[k]} {what[k]} {need[k]}",
                  "" if have[k] >= need[k] else fix[k]) for k in need]


def run_checks(req: dict) -> list[Check]:
    checks = [_entrypoint(req)]
    if req["gpus"] == 0:
        why = "cluster.ray.num_gpus is 0 (a CPU-only cluster profile)"
        return checks + [Check(n, "skipped", why) for n in ("stack", "gpus", "int4 extension")]
    sys.path[:0] = [req["working_dir"], *req["pythonpath"]]  # as the job sees them: cwd-relative and PYTHONPATH
    checks += [_importable(mod, what, fix) for mod, what, fix in STACK]
    checks.append(_gpus(req["gpu"], req["gpus"]))
    if req["int4_extension"]:
        found = _find(INT4_MODULE)
        checks.append(Check("int4 extension", "ok" if found else "missing",
                            f"{INT4_MODULE} {'importable' if found else 'not importable'} (INT4 weight updates)",
                            "" if found else INT4_BUILD.format(slime=req["working_dir"])))
    return checks


def missing(checks: list[Check]) -> list[Check]:
    return [c for c in checks if c.status == "missing"]


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{c.status:<8} {c.name:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"{'':<8} {'':<{width}}  fix: {c.fix}")
    return "\n".join(lines) + "\n"


def _entrypoint(req: dict) -> Check:
    path = req["entrypoint"]
    if os.path.isfile(path):
        return Check("entrypoint", "ok", path)
    return Check("entrypoint", "missing", f"{path} does not exist",
                 f"git clone {SLIME_REPO} {req['working_dir']}, or set launch.working_dir / launch.entrypoint")


def _importable(module: str, what: str, fix: str) -> Check:
    ok = _find(module)
    return Check(module, "ok" if ok else "missing", f"{what} {'importable' if ok else 'not importable'}",
                 "" if ok else fix)


def _find(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _gpus(kind: str, count: int) -> Check:
    """Count visible GPUs whose name holds the recipe's kind as a word (H20 does not match H200)."""
    fix = f"run on a node with {count} {kind} GPUs, or change cluster.gpu / cluster.gpus_per_node"
    if not shutil.which("nvidia-smi"):
        return Check("gpus", "missing", "nvidia-smi not found: no NVIDIA driver on this node", fix)
    out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                         text=True, check=False).stdout
    names = [n.strip() for n in out.splitlines() if n.strip()]
    matching = [n for n in names if re.search(rf"\b{re.escape(kind)}\b", n)]
    detail = f"{len(matching)} {kind} of {len(names)} visible GPU(s); the recipe needs {count}"
    return Check("gpus", "ok" if len(matching) >= count else "missing", detail, "" if len(matching) >= count else fix)


def main(argv: list[str]) -> int:
    """The probe job: one request in argv, one marked JSON line out."""
    checks = run_checks(json.loads(argv[1]))
    print(MARKER + json.dumps([asdict(c) for c in checks]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
