"""Pre-flight: does this node have what the recipe's job needs? Entrypoint, slime/Megatron/SGLang, GPUs, INT4 kernel,
and does the installed slime's own argument parsing accept the plan's exact argv and env?

This module is stdlib-only at import time on purpose: `launch` ships its source as a tiny Ray job
(`python3 -c SOURCE REQUEST`) so the checks run on the target cluster, where recipe-runner may not be installed;
`recipe-runner doctor` runs the same checks in-process on the local node.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types
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


# TransformerEngine of the image of THUDM/slime@624b824a:docker/Dockerfile (`transformer_engine[pytorch]==2.16.1`):
# Megatron's validate_args asks its version (megatron/core/utils.py `is_te_min_version`).
TE_VERSION_ASSUMED = "2.16.1"
SLIME_CHECK = "slime parser"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | missing | rejected | skipped
    detail: str
    fix: str = ""


def request(recipe: object, plan: object = None, model_config: dict | None = None, slime: str | None = None) -> dict:
    """What to check for a Recipe, as plain JSON (the probe job's only input).

    With a plan, slime's own parser is also run on its exact argv and env (`slime`: a checkout to import it from)."""
    from recipe_runner import formats
    from recipe_runner.hardware import GPUS
    from recipe_runner.precision import mode

    launch, cluster = recipe.launch, recipe.cluster  # type: ignore[attr-defined]
    entry = launch.entrypoint
    parse = {} if plan is None else {
        "train_args": list(plan.train_args), "env": dict(plan.env),  # type: ignore[attr-defined]
        "model_config": model_config, "slime": slime, "run_config": getattr(plan, "run_config", ""),
        "gpu_capability": divmod(round(GPUS[cluster.gpu].compute_capability * 10), 10) if cluster.gpu in GPUS
        else None,
    }
    ray_gpus = cluster.gpus_per_node if cluster.ray.num_gpus is None else cluster.ray.num_gpus
    return {
        "entrypoint": entry if os.path.isabs(entry) else os.path.join(launch.working_dir, entry),
        "working_dir": launch.working_dir,
        "pythonpath": list(launch.pythonpath),
        "gpu": cluster.gpu,
        "gpus": ray_gpus,
        "int4_extension": formats.get(mode(recipe.precision.mode).rollout_format) is formats.INT4,  # type: ignore[attr-defined]
        "nodes": cluster.nodes,
        # a CPU-only profile (ray.num_gpus=0) asks for no GPUs; slime itself would never place there
        "bundles": placement_bundles(recipe) if ray_gpus else 0,
        **parse,
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


def probe_node(req: dict) -> list[Check]:
    """This node against the job's request (the probe job and `doctor` both run it; the recipe's rules are
    `checks.run_checks`)."""
    checks = [_entrypoint(req)]
    # as the job sees them: cwd-relative and PYTHONPATH; `doctor --slime PATH` first
    sys.path[:0] = [*([req["slime"]] if req.get("slime") else []), req["working_dir"], *req["pythonpath"]]
    if req["gpus"] == 0:
        why = "cluster.ray.num_gpus is 0 (a CPU-only cluster profile)"
        checks += [Check(n, "skipped", why) for n in ("stack", "gpus", "int4 extension")]
        return checks + slime_parser_checks(req)
    checks += [_importable(mod, what, fix) for mod, what, fix in STACK]
    checks.append(_gpus(req["gpu"], req["gpus"]))
    if req["int4_extension"]:
        found = _find(INT4_MODULE)
        checks.append(Check("int4 extension", "ok" if found else "missing",
                            f"{INT4_MODULE} {'importable' if found else 'not importable'} (INT4 weight updates)",
                            "" if found else INT4_BUILD.format(slime=req["working_dir"])))
    return checks + slime_parser_checks(req)


def missing(checks: list[Check]) -> list[Check]:
    """What stops the launch: a missing piece, or a plan slime's parser rejects."""
    return [c for c in checks if c.status in ("missing", "rejected")]


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


# ---- slime's own parser on the plan's argv ---------------------------------------------------------------------

@dataclass(frozen=True)
class ParseResult:
    """What slime's parse_args made of an argv: the error it raised, tokens no parser took, flags matched by prefix,
    and what this node could not check (absent GPU, TransformerEngine or checkpoint paths were stood in for)."""

    error: str | None
    unconsumed: list[str]
    abbreviated: list[str]
    not_checked: list[str]


def slime_parser_checks(req: dict) -> list[Check]:
    """Import the installed slime's argument parsing and run it on the plan's exact argv and env."""
    if "train_args" not in req:
        return []
    try:
        from slime.utils.arguments import parse_args
    except Exception as e:  # noqa: BLE001 -- any import failure means "not importable here"
        return [Check(SLIME_CHECK, "skipped", f"slime's argument parsing is not importable here ({type(e).__name__}: "
                      f"{e}); the plan's argv was not run through it", "")]
    r = run_slime_parser(parse_args, req["train_args"], req["env"], req.get("model_config"),
                         req.get("gpu_capability"), req.get("run_config", ""))
    checks = [Check("not checked here", "skipped", note) for note in r.not_checked]
    if r.error:
        flag = re.search(r"argument (--[\w-]+)", r.error)
        fix = (f"correct {flag.group(1)} in the recipe (`recipe-runner explain RECIPE KEY` shows where it comes "
               "from); `python3 train.py --help` of this slime shows what it accepts") if flag else \
            "make the recipe satisfy the rule above, or run the slime version the recipes target (THUDM/slime@624b824a)"
        checks.append(Check(SLIME_CHECK, "rejected", f"slime's parse_args rejects the plan: {r.error}", fix))
    if r.unconsumed:
        checks.append(Check("slime argv", "rejected", "no parser of slime consumes " + " ".join(r.unconsumed)
                            + " (slime parses with parse_known_args, so it would silently drop them)",
                            "remove or correct them in model.extra_args, training.extra_args or "
                            "rollout.sglang.extra_args"))
    if r.abbreviated:
        checks.append(Check("slime argv", "rejected", "matched only as an abbreviation of a longer flag: "
                            + ", ".join(r.abbreviated), "write each flag in full"))
    if not (r.error or r.unconsumed or r.abbreviated):
        checks.append(Check(SLIME_CHECK, "ok", f"slime's parse_args and validators accept all {len(req['train_args'])}"
                            " argv tokens, each consumed by a parser"))
    return checks


def run_slime_parser(parse_args, argv: list[str], env: dict[str, str], model_config: dict | None,
                     gpu_capability: list[int] | None, run_config: str = "") -> ParseResult:
    """Call slime's `parse_args` with `sys.argv = ["train.py", *argv]` and `env` in os.environ.

    slime parses sys.argv several times (pre-parse, SGLang, Megatron + slime), each with parse_known_args, so an
    unknown token is dropped silently: every parser that reads sys.argv is recorded, and a token counts as
    consumed when some parser took it. What this node lacks is stood in for and listed in `not_checked`."""
    notes: list[str] = []
    calls: list[tuple[argparse.ArgumentParser, set[int]]] = []
    original = argparse.ArgumentParser.parse_known_args

    def recording(self, args=None, namespace=None):
        ns, extras = original(self, args, namespace)
        if args is None:  # this parser read sys.argv: which positions did it leave?
            calls.append((self, {e.pos for e in extras if isinstance(e, _Token)}))
        return ns, extras

    saved_argv, saved_env = sys.argv, dict(os.environ)
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as stack:
        local_argv = _stand_in_paths(argv, model_config, run_config, scratch, notes)
        _stand_in_gpu(gpu_capability, stack, notes)
        _stand_in_te(notes)
        err = io.StringIO()
        sys.argv = ["train.py", *(_Token(t, i) for i, t in enumerate(local_argv))]
        os.environ.update(env)
        argparse.ArgumentParser.parse_known_args = recording
        error = None
        try:
            with contextlib.redirect_stderr(err):
                parse_args()
        except SystemExit as e:
            lines = [ln for ln in err.getvalue().splitlines() if "error:" in ln]
            error = lines[-1].split("error:", 1)[1].strip() if lines else f"exit {e.code}: {err.getvalue()[-500:]}"
        except Exception as e:  # noqa: BLE001 -- slime's validators raise assert/ValueError/...: report, not crash
            error = f"{type(e).__name__}: {e}"
        finally:
            argparse.ArgumentParser.parse_known_args = original
            sys.argv = saved_argv
            os.environ.clear()
            os.environ.update(saved_env)
    # after an error not every parser has run: the error is the finding then
    unconsumed, abbreviated = _account(local_argv, calls) if calls and not error else ([], [])
    return ParseResult(error, unconsumed, abbreviated, notes)


class _Token(str):
    """An argv token that remembers its position: argparse returns the same objects as its leftovers."""

    pos: int

    def __new__(cls, value: str, pos: int) -> _Token:
        token = super().__new__(cls, value)
        token.pos = pos
        return token


def _account(argv: list[str], calls: list[tuple[argparse.ArgumentParser, set[int]]]) -> tuple[list[str], list[str]]:
    """Tokens every parser left over; consumed option tokens that no parser defines exactly (taken by prefix)."""
    left = set.intersection(*(positions for _, positions in calls))
    unconsumed = [argv[i] for i in sorted(left)]
    exact = {o for p, _ in calls for o in p._option_string_actions}
    abbreviated = [t for i, t in enumerate(argv)
                   if t.startswith("--") and i not in left and t.split("=", 1)[0] not in exact]
    return unconsumed, abbreviated


def _stand_in_paths(argv: list[str], model_config: dict | None, run_config: str, scratch: str,
                    notes: list[str]) -> list[str]:
    """Paths slime opens while parsing: absent here -> a scratch stand-in, and a note saying so. The W&B run config
    (--custom-config-path, relative to the job's working dir that Ray uploads) is the plan's own text."""
    out = list(argv)
    for i, token in enumerate(argv[:-1]):
        path = argv[i + 1]
        if token == "--ref-load" and not os.path.isdir(path):
            out[i + 1] = os.path.join(scratch, "ref-load")
            os.makedirs(out[i + 1])
            with open(os.path.join(out[i + 1], "latest_checkpointed_iteration.txt"), "w") as f:
                f.write("release")
            notes.append(f"--ref-load {path} is absent on this node (slime requires it, holding "
                         "latest_checkpointed_iteration.txt, when the KL loss is on); a scratch stand-in was used")
        elif token == "--hf-checkpoint" and not os.path.isfile(os.path.join(path, "config.json")) and model_config:
            out[i + 1] = os.path.join(scratch, "hf-checkpoint")
            os.makedirs(out[i + 1])
            with open(os.path.join(out[i + 1], "config.json"), "w") as f:  # its remote code is not here: no auto_map
                json.dump({k: v for k, v in model_config.items() if k != "auto_map"}, f)
            notes.append(f"--hf-checkpoint {path} is absent on this node; slime's HF-config check "
                         "(_hf_validate_args) ran against the recipe's model config")
        elif token == "--custom-config-path" and not os.path.isfile(path) and run_config:
            out[i + 1] = os.path.join(scratch, os.path.basename(path))
            with open(out[i + 1], "w") as f:
                f.write(run_config)
    return out


def _stand_in_gpu(capability: list[int] | None, stack: contextlib.ExitStack, notes: list[str]) -> None:
    """Megatron's validate_args asks the device's capability and properties (megatron/training/arguments.py,
    megatron/training/utils.py `get_device_arch_version`); without a CUDA device, the recipe's GPU stands in."""
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available():
        return
    cap = tuple(capability or (9, 0))
    props = types.SimpleNamespace(major=cap[0], minor=cap[1], name="stand-in", multi_processor_count=132)
    for name, value in (("get_device_capability", cap), ("get_device_properties", props)):
        stack.callback(setattr, torch.cuda, name, getattr(torch.cuda, name))
        setattr(torch.cuda, name, lambda *a, _v=value, **k: _v)
    notes.append(f"GPU device capability: no CUDA device on this node; assumed sm_{cap[0]}{cap[1]} (cluster.gpu)")


def _stand_in_te(notes: list[str]) -> None:
    """Megatron asks TransformerEngine's version while validating; without TE here, assume slime's image's."""
    if _find("transformer_engine"):
        return
    try:
        import megatron.core.utils as mcu
        from packaging.version import Version
    except ImportError:
        return
    if hasattr(mcu, "_te_version"):
        mcu._te_version = mcu._te_version or Version(TE_VERSION_ASSUMED)
        notes.append(f"TransformerEngine version: TE is not importable here; assumed {TE_VERSION_ASSUMED} "
                     "(slime's docker/Dockerfile)")


def main(argv: list[str]) -> int:
    """The probe job: one request in argv, one marked JSON line out."""
    checks = probe_node(json.loads(argv[1]))
    print(MARKER + json.dumps([asdict(c) for c in checks]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
