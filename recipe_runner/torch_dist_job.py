"""Run slime's HF -> torch_dist converter once: skipped when done, Kimi's model_type rewritten in a copy, atomic,
on one node or as one torchrun per node.

Stdlib-only at import time on purpose, like doctor.py: `launch` ships this source as a Ray job (`python3 -c SOURCE
SPEC`) so the conversion runs on the cluster, where recipe-runner may not be installed; `recipe-runner torch-dist`
(the shell and sbatch scripts' step) runs the same `run` in-process. SPEC is the JSON prep_steps.TorchDist.spec
builds: {"hf", "save", "slime", "pythonpath", "nnodes", "nproc_per_node", "gpus_per_node", "layout_args",
"model_args", "ray_address"}.

Facts (THUDM/slime@624b824a): the tool is `tools/convert_hf_to_torch_dist.py ${MODEL_ARGS[@]} --hf-checkpoint HF
--save DST` with Megatron-LM on PYTHONPATH (docs/en/get_started/quick_start.md:85-93), under torchrun for large
models, across nodes with `torchrun --nproc-per-node 8 --master-addr ADDR --master-port PORT --nnodes N
--node-rank RANK` on each (docs/en/examples/deepseek-r1.md:29-50); it saves iteration 1, then writes `release` into
Megatron's tracker `latest_checkpointed_iteration.txt` and moves the iteration directory to `release/`
(tools/convert_hf_to_torch_dist.py:131-140), so an existing DST would be merged into, not replaced: we convert into
a temp directory beside DST and rename it into place (on multi-node runs DST's parent is storage every node mounts,
as Megatron's checkpoint writer needs). Kimi-K2 needs `"model_type": "deepseek_v3"` in config.json
(quick_start.md:93): the tool reads a directory holding a rewritten copy of config.json and links to every other
file of the checkpoint, so the checkpoint itself is never edited.

Across nodes (nnodes > 1) the driver asks Ray for one bundle per node (STRICT_SPREAD: each on another node, with
the node's GPUs), learns node 0's address and a free port there, and runs torchrun on each node as a Ray task
(node rank = bundle index). When one node's torchrun fails the others are cancelled, which stops their torchrun
(each dies with its task's process: PR_SET_PDEATHSIG), and nothing is written.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

TOOL = "tools/convert_hf_to_torch_dist.py"
TRACKER = "latest_checkpointed_iteration.txt"  # Megatron's: the iteration (or "release") a load reads
MANIFEST = "recipe-runner-torch-dist.json"  # beside the tracker: what the checkpoint was made from
MODEL_TYPE_REWRITE = {"kimi_k2": "deepseek_v3"}  # slime's converter knows Kimi-K2 as DeepSeek-V3
EXIT_BAD_INPUT = 2
# The parallel sizes torch_dist.Layout may give the tool: not model args (the checkpoint is resharded at load), so
# not part of what `done` compares.
LAYOUT_FLAGS = ("--pipeline-model-parallel-size", "--decoder-last-pipeline-num-layers", "--expert-model-parallel-size")
PLACEMENT_TIMEOUT_S = 600  # how long the nodes' bundles may wait for free GPUs before the step fails
BAD_INPUT = "error: torch-dist input: "  # the line a bad input prints (launch turns it into exit 2)


class InputError(Exception):
    """The step's input is not what it needs (exit 2)."""


def split_layout_args(tool_args: list[str]) -> tuple[list[str], list[str]]:
    """(model args, layout args) of the tool's argv words: each LAYOUT_FLAGS flag with its value goes to the second."""
    model: list[str] = []
    layout: list[str] = []
    i = 0
    while i < len(tool_args):
        if tool_args[i] in LAYOUT_FLAGS and i + 1 < len(tool_args):
            layout += tool_args[i:i + 2]
            i += 2
        else:
            model.append(tool_args[i])
            i += 1
    return model, layout


def done(spec: dict) -> str | None:
    """Why DST needs no conversion (a line to print), None when it must be made. A DST holding another
    conversion is an InputError: it is never overwritten."""
    save = Path(spec["save"])
    if not (save / TRACKER).is_file():
        if save.exists() and any(save.iterdir()):
            raise InputError(f"{save} exists and is not a torch_dist checkpoint (no {TRACKER}): move it away or "
                             "set checkpoints.torch_dist to another directory")
        return None
    try:
        recorded = json.loads((save / MANIFEST).read_text())
    except FileNotFoundError:
        return (f"{save} holds a torch_dist checkpoint made outside recipe-runner ({TRACKER}, no {MANIFEST}): its "
                "model args cannot be compared; delete it to convert again")
    except (OSError, ValueError) as e:
        raise InputError(f"{save / MANIFEST} cannot be read ({e}): delete {save} to convert again") from None
    for key in ("hf", "model_args"):
        if recorded.get(key) != spec[key]:
            raise InputError(f"{save} was converted with other {key.replace('_', ' ')} ({MANIFEST}: "
                             f"{json.dumps(recorded.get(key))[:300]}; this run: {json.dumps(spec[key])[:300]}): "
                             "delete it, or set checkpoints.torch_dist to another directory")
    return f"{save} already holds this conversion of {spec['hf']} ({MANIFEST} matches)"


def check_source(spec: dict) -> dict:
    """The BF16 source's config.json, or InputError naming what is wrong with it."""
    config = Path(spec["hf"]) / "config.json"
    try:
        data = json.loads(config.read_text())
    except FileNotFoundError:
        raise InputError(f"{config} not found: the torch-dist step needs the BF16 Hugging Face checkpoint "
                         "(checkpoints.bf16)") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{config} cannot be read as JSON ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{config} is not a JSON object")
    if data.get("quantization_config"):
        raise InputError(f"{config} has a quantization_config: slime's converter needs BF16 weights; dequantize "
                         f"first (recipe-runner convert bf16 SRC {spec['hf']})")
    return data


def source_view(hf: Path, config: dict, where: Path) -> Path:
    """`hf` as slime's converter must read it: itself, or (Kimi-K2) a directory at `where` with config.json's
    model_type rewritten and a link to every other file."""
    new_type = MODEL_TYPE_REWRITE.get(config.get("model_type"))
    if new_type is None:
        return hf
    where.mkdir()
    for entry in hf.iterdir():
        if entry.name != "config.json":
            (where / entry.name).symlink_to(entry.resolve())
    (where / "config.json").write_text(json.dumps({**config, "model_type": new_type}, indent=2) + "\n")
    print(f"torch-dist: model_type {config['model_type']} -> {new_type} in a copy of config.json ({where})")
    return where


def launcher(spec: dict, node_rank: int = 0, master: tuple[str, int] | None = None) -> list[str]:
    """python3 for one process, torchrun for one node's processes, torchrun with the node's rank and the master's
    address on a multi-node run."""
    nproc, nnodes = spec["nproc_per_node"], spec.get("nnodes", 1)
    if nnodes == 1:
        return ["python3"] if nproc == 1 else ["torchrun", "--nproc-per-node", str(nproc)]
    host, port = master or ("MASTER_ADDR", "MASTER_PORT")
    return ["torchrun", "--nnodes", str(nnodes), "--node-rank", str(node_rank), "--master-addr", host,
            "--master-port", str(port), "--nproc-per-node", str(nproc)]


def command(spec: dict, hf: str, save: str, node_rank: int = 0, master: tuple[str, int] | None = None) -> list[str]:
    """The converter's command line (on node `node_rank`) with these source and destination directories."""
    return [*launcher(spec, node_rank, master), TOOL, *spec["model_args"], *spec.get("layout_args", []),
            "--hf-checkpoint", hf, "--save", save]


def run(spec: dict) -> int:
    """Convert unless done: 0 when DST holds the conversion, 2 for bad input, 1 when the conversion failed."""
    try:
        why = done(spec)
        if why:
            print(f"torch-dist: {why}; skipped")
            return 0
        config = check_source(spec)
    except InputError as e:
        print(f"{BAD_INPUT}{e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    save = Path(spec["save"])
    save.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{save.name}.", dir=save.parent))
    try:
        hf = str(source_view(Path(spec["hf"]), config, work / "hf"))
        out = work / "torch_dist"
        env = {"PYTHONPATH": os.pathsep.join([*spec["pythonpath"], os.environ.get("PYTHONPATH", "")])
               .rstrip(os.pathsep)}
        if spec.get("nnodes", 1) > 1:
            code = on_nodes(spec, hf, str(out), env)
        else:
            argv = command(spec, hf, str(out))
            print(f"torch-dist: {spec['hf']} -> {save}: (cd {spec['slime']} && {' '.join(argv)})", flush=True)
            code = subprocess.run(argv, cwd=spec["slime"], env={**os.environ, **env}, check=False).returncode
            if code != 0:
                print(f"error: torch-dist: slime's converter exited with {code}", file=sys.stderr)
        if code != 0:
            print(f"error: torch-dist: {save} was not written", file=sys.stderr)
            return 1
        return publish(spec, out, save)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def publish(spec: dict, out: Path, save: Path) -> int:
    """Record what `out` was made from beside Megatron's tracker and rename it to `save`."""
    if not (out / TRACKER).is_file():
        print(f"error: torch-dist: slime's converter wrote no {TRACKER}; {save} was not written", file=sys.stderr)
        return 1
    record = {"tool": "recipe-runner", "hf": spec["hf"], "model_args": spec["model_args"],
              "layout_args": spec.get("layout_args", []), "nnodes": spec.get("nnodes", 1),
              "command": command(spec, spec["hf"], spec["save"]),
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    (out / MANIFEST).write_text(json.dumps(record, indent=2) + "\n")
    try:
        os.replace(out, save)  # an empty DST is replaced; one another run filled meanwhile is not merged into
    except OSError as e:
        print(f"error: torch-dist: cannot move the conversion into {save} ({e.strerror}); nothing was merged",
              file=sys.stderr)
        return 1
    print(f"torch-dist: wrote {save}")
    return 0


# ---- across nodes -------------------------------------------------------------------------------------------------

def master_address() -> tuple[str, int]:
    """This node's address (Ray's view of it) and a port free on it now: torchrun's rendezvous on node 0."""
    import ray

    with socket.socket() as sock:
        sock.bind(("", 0))
        port = sock.getsockname()[1]
    return ray.util.get_node_ip_address(), port


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the Ray worker that started it dies (Linux prctl PR_SET_PDEATHSIG), so a
    cancelled or killed task leaves no torchrun behind; torchrun passes it on to its workers."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def node_torchrun(argv: list[str], cwd: str, env: dict[str, str]) -> int:
    """One node's torchrun (a Ray task): its exit code; stopped with the task when the driver cancels it."""
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env},
                            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    try:
        while True:  # short waits: ray.cancel's KeyboardInterrupt is raised between bytecodes, not inside waitpid
            try:
                return proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def on_nodes(spec: dict, hf: str, out: str, env: dict[str, str]) -> int:
    """torchrun on `nnodes` nodes of the Ray cluster, one Ray task per node in a STRICT_SPREAD placement group: 0 when
    every node's torchrun exited 0, else 1 (the others cancelled)."""
    import ray
    from ray.util.placement_group import placement_group, remove_placement_group
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    if __name__ != "__main__":  # imported (`recipe-runner torch-dist`): the nodes need not have recipe-runner
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    connected = ray.is_initialized()
    if not connected:
        ray.init(address=spec.get("ray_address") or "auto", logging_level="WARNING")
    nnodes, gpus = spec["nnodes"], spec.get("gpus_per_node", 0)
    bundle = {"CPU": 1, **({"GPU": gpus} if gpus else {})}
    group = placement_group([bundle] * nnodes, strategy="STRICT_SPREAD")
    try:
        ready, _ = ray.wait([group.ready()], timeout=PLACEMENT_TIMEOUT_S)
        if not ready:
            print(f"error: torch-dist: after {PLACEMENT_TIMEOUT_S}s Ray has not found {nnodes} nodes with "
                  f"{bundle} free each (`ray status` shows what is free); the conversion needs them at once",
                  file=sys.stderr)
            return 1

        def on(rank: int) -> PlacementGroupSchedulingStrategy:
            return PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=rank)

        master = ray.get(ray.remote(master_address).options(num_cpus=0, scheduling_strategy=on(0)).remote())
        task = ray.remote(node_torchrun)
        argvs = [command(spec, hf, out, rank, master) for rank in range(nnodes)]
        print(f"torch-dist: {spec['hf']} -> {spec['save']}: {nnodes} nodes, master {master[0]}:{master[1]}; node 0: "
              f"(cd {spec['slime']} && {' '.join(argvs[0])})", flush=True)
        refs = {task.options(num_cpus=1, num_gpus=gpus, scheduling_strategy=on(rank), max_retries=0)
                .remote(argv, spec["slime"], env): rank for rank, argv in enumerate(argvs)}
        return _wait_all(refs)
    finally:
        remove_placement_group(group)
        if not connected:
            ray.shutdown()


def _wait_all(refs: dict) -> int:
    """Wait for every node; at the first failure cancel the rest and wait for them to stop."""
    import ray

    pending = list(refs)
    while pending:
        finished, pending = ray.wait(pending, num_returns=1)
        rank = refs[finished[0]]
        try:
            code = ray.get(finished[0])
        except ray.exceptions.RayError as e:
            code, why = 1, f"its task failed ({type(e).__name__}: {str(e).splitlines()[0][:300]})"
        else:
            why = f"slime's converter exited with {code}"
        if code != 0:
            print(f"error: torch-dist: node {rank}: {why}; stopping the other nodes", file=sys.stderr)
            for ref in pending:
                ray.cancel(ref)
            if pending:
                ray.wait(pending, num_returns=len(pending), timeout=60)
            return 1
    return 0


def main(argv: list[str]) -> int:
    """`python3 -c SOURCE SPEC_JSON` (the Ray job launch submits)."""
    return run(json.loads(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
