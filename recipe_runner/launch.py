"""Execute a Plan on Ray: convert if needed, start a local head if no cluster is named, pre-flight, submit, follow.

Side effects live here, at the edge of the pipeline (DESIGN.md). Ray is imported inside functions so that
`plan`/`validate` never load it. Jobs go through Ray's Job Submission SDK (ray.job_submission.JobSubmissionClient:
submit_job, tail_job_logs, get_job_status, stop_job), the API behind `ray job submit` in slime's scripts
(reference §1.1 item 6). Nothing here kills processes it did not start (unlike the scripts' `pkill -9 python`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recipe_runner import doctor, run_config, torch_dist_job
from recipe_runner.errors import Problem, RunError, UserError, user_error
from recipe_runner.extras import require
from recipe_runner.formats import Bf16Params, Params, params_from_json
from recipe_runner.plan import Plan
from recipe_runner.prep_steps import Dequantize, TorchDist
from recipe_runner.steps import DEFAULT_DASHBOARD, Conversion, RayHead
from recipe_runner.tracking import RUN_CONFIG_FILE

if TYPE_CHECKING:
    from ray.job_submission import JobSubmissionClient

    from recipe_runner.resolve import Resolved

DEFAULT_ADDRESS = DEFAULT_DASHBOARD  # the Job API of a head started here (steps.py makes the address)
HEAD_START_TIMEOUT_S = 90
AGENT_START_TIMEOUT_S = 180  # a fresh head's job agent can lag its Job API by minutes on a loaded machine
POLL_S = 0.5
RESOURCE_POLL_S = 5
# Ray's job client takes these over the address it is given (ray/dashboard/utils.py,
# get_address_for_submission_client): first RAY_API_SERVER_ADDRESS, then RAY_ADDRESS.
ADDRESS_ENV = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")


@dataclass(frozen=True)
class Options:
    address: str | None = None  # --address; else $RAY_API_SERVER_ADDRESS, $RAY_ADDRESS, cluster.ray.address; else local
    dry_run: bool = False
    detach: bool = False  # submit and return without following the logs
    wait_for_resources: float = 0  # seconds to wait for the cluster's nodes/GPUs/CPUs; 0: check once


@dataclass(frozen=True)
class Target:
    address: str  # the Ray dashboard (Job API) address
    embedded: bool  # True: this command starts a local head and stops it at the end
    source: str = "a local head"  # where the address came from: --address, an env var, cluster.ray.address


def launch(resolved: Resolved, plan: Plan, opts: Options) -> int:
    """Run the plan's steps in order; the exit code follows the job's final status."""
    target = resolve_target(plan, opts.address)
    if target.embedded and plan.nodes > 1:
        raise _multi_node_needs_cluster(plan)
    sid = submission_id(plan)
    if opts.dry_run:
        sys.stdout.write(dry_run(resolved, plan, target, sid, opts))
        return 0
    forwarded_env(plan)  # a forwarded variable that is not set: exit 2 before anything starts
    dequantize_if_needed(plan)
    convert_if_needed(plan)
    head = LocalHead.start(plan.step("ray-head"), target.address) if target.embedded else None
    keep_head = False
    try:
        print(f"ray: {target.address} (from {target.source})")
        client = connect(target.address)
        check_resources(target.address, doctor.request(resolved.recipe), opts.wait_for_resources)
        run_torch_dist(client, plan)
        preflight(client, resolved, plan)
        sid = submit(client, plan, sid)
        if opts.detach:
            keep_head = True
            print(f"submitted {sid}; follow with: recipe-runner logs {sid} --follow" + _address_flag(target))
            return 0
        code, keep_head = follow(client, sid, target)
        return code
    finally:
        if head and not keep_head:
            head.stop()


def resolve_target(plan: Plan, address: str | None) -> Target:
    """--address, else $RAY_API_SERVER_ADDRESS, else $RAY_ADDRESS, else the recipe's cluster.ray.address: use the
    first one set, as is; else embed a head. The chosen address is then passed to Ray explicitly (connect)."""
    named = named_address(address)
    if named is None and not plan.step("ray-head"):
        named = (plan.dashboard_address, "cluster.ray.address")
    if named:
        url, source = named
        return Target(url if "://" in url else f"http://{url}", embedded=False, source=source)
    return Target(plan.dashboard_address, embedded=True)


def named_address(address: str | None) -> tuple[str, str] | None:
    """(address, where it came from): --address, else the first of ADDRESS_ENV that is set."""
    if address:
        return address, "--address"
    return next(((os.environ[k], f"${k}") for k in ADDRESS_ENV if os.environ.get(k)), None)


def submission_id(plan: Plan) -> str:
    """Recipe name + fingerprint: the same plan maps to the same job, so a second launch finds the first."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", plan.recipe).strip("-")
    return f"{slug}-{plan.fingerprint[:12]}"


def job_entrypoint(plan: Plan) -> str:
    """The shell command Ray runs: the job's command (`python3 train.py ARGS`), quoted."""
    return shlex.join(plan.job.command)


# ---- convert ----------------------------------------------------------------------------------------------------

def conversion(plan: Plan) -> tuple[Conversion, Params] | None:
    """The plan's convert step and the converter's parameters for it, or None when the plan converts nothing."""
    step = next((s for s in plan.steps if isinstance(s, Conversion)), None)
    if step is None:
        return None
    return step, params_from_json(step.kind, step.params)


def already_converted(plan: Plan) -> bool:
    """conversion.json in DST records this source fingerprint and these parameters (quant.record)."""
    from recipe_runner.quant.record import conversion_matches

    conv = conversion(plan)
    if conv is None:
        return False
    step, params = conv
    return conversion_matches(step.dst, step.src, step.kind, params.to_json())


def convert_if_needed(plan: Plan) -> None:
    conv = conversion(plan)
    if conv is None:
        return
    step, params = conv
    if already_converted(plan):
        print(f"convert: {step.dst} already holds this {step.kind} conversion of {step.src} (conversion.json "
              "matches); skipped")
        return
    from recipe_runner.quant.convert import convert_checkpoint

    print(f"convert: {step.src} -> {step.dst} ({step.kind})")
    convert_checkpoint(step.src, step.dst, params, progress=sys.stderr.isatty())


def dequantize_if_needed(plan: Plan) -> None:
    """The dequant-bf16 step, in-process through the converter (`convert bf16`); it skips a DST holding it."""
    step = next((s for s in plan.steps if isinstance(s, Dequantize)), None)
    if step is None:
        return
    from recipe_runner.quant.convert import convert_checkpoint

    print(f"dequant-bf16: {step.src} -> {step.dst} ({step.source_format} -> BF16)")
    result = convert_checkpoint(step.src, step.dst, Bf16Params(), progress=sys.stderr.isatty(), reuse=True)
    if result.reused:
        print(f"dequant-bf16: {step.dst} already holds this conversion of {step.src} (conversion.json matches); "
              "skipped")


# ---- torch_dist -------------------------------------------------------------------------------------------------

def run_torch_dist(client: JobSubmissionClient, plan: Plan) -> None:
    """The torch-dist step as a Ray job on the target (torch_dist_job.py's source, stdlib only, so recipe-runner
    need not be installed there), on a node with the GPUs it uses; it skips itself when DST holds the conversion.
    Exit 2 of the job (a bad input) is exit 2 here, any other failure exit 1."""
    step = next((s for s in plan.steps if isinstance(s, TorchDist)), None)
    if step is None:
        return
    sid = f"{submission_id(plan)}-torch-dist-{uuid.uuid4().hex[:6]}"
    # one node: the job's own process runs torchrun on the GPUs it holds; across nodes it asks Ray for them
    gpus = 0 if step.across_nodes else step.gpus_per_node
    spec = {**step.spec, "ray_address": None}  # inside the job, Ray's own address (RAY_ADDRESS)
    print(f"torch-dist: job {sid}: {step.hf} -> {step.save}" + (f" on {step.nnodes} nodes" if step.across_nodes
                                                               else ""))
    submit_job(client, entrypoint=shlex.join(["python3", "-c", Path(torch_dist_job.__file__).read_text(),
                                              json.dumps(spec)]),
               runtime_env={"env_vars": plan.env}, submission_id=sid, entrypoint_num_gpus=gpus)
    status = wait_terminal(client, sid)
    logs = client.get_job_logs(sid)
    lines = logs.splitlines(keepends=True)  # from the job's first line on (Ray may echo the entrypoint first)
    first = next((i for i, ln in enumerate(lines) if ln.startswith(("torch-dist", torch_dist_job.BAD_INPUT))), 0)
    sys.stdout.write("".join(lines[first:]))
    if str(status) != "SUCCEEDED":
        error = next((ln for ln in logs.splitlines() if ln.startswith(torch_dist_job.BAD_INPUT)), None)
        if error:
            raise user_error("checkpoints.torch_dist", error.removeprefix(torch_dist_job.BAD_INPUT),
                             rule="the torch-dist step converts checkpoints.bf16 into an empty or new directory",
                             hint="fix the input it names, then launch again", title="the torch-dist step failed")
        raise RunError(f"the torch-dist job {sid} ended {status}:\n{logs[-2000:]}")


# ---- Ray head and client ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LocalHead:
    """A `ray start --head --block` child: terminating it stops exactly the Ray processes it started."""

    proc: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, step: RayHead | None, address: str) -> LocalHead:
        assert step is not None, "an embedded target always has a ray-head step"
        log = Path(tempfile.mkstemp(prefix="recipe-runner-ray-head-", suffix=".log")[1])
        print(f"ray-head: starting a local Ray head: {shlex.join(step.argv)}")
        with log.open("wb") as f:  # its own session: the terminal's Ctrl-C reaches us, not the head
            proc = subprocess.Popen([*step.argv, "--block"], stdout=f, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        head = cls(proc, log)
        head.wait_ready(address)
        return head

    def wait_ready(self, address: str) -> None:
        deadline = time.monotonic() + HEAD_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RunError(f"the local Ray head exited with code {self.proc.returncode}:\n{self._tail()}\n"
                               f"if a Ray cluster is already running here, pass --address {DEFAULT_ADDRESS}")
            try:
                connect(address, quiet=True)
                if live_nodes(address):  # the head registers as a node shortly after its Job API answers
                    return
            except RunError:
                pass
            time.sleep(POLL_S)
        self.stop()
        raise RunError(f"the local Ray head did not answer at {address} within {HEAD_START_TIMEOUT_S}s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            print("ray-head: stopping the local Ray head this command started", file=sys.stderr)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)

    def _tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])


def connect(address: str, quiet: bool = False) -> JobSubmissionClient:
    """A Job API client for exactly `address`, whatever RAY_ADDRESS / RAY_API_SERVER_ADDRESS say."""
    require("launch")
    from ray.job_submission import JobSubmissionClient

    try:
        with address_env_hidden():
            return JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise RunError(f"cannot reach the Ray Job API at {address}" + ("" if quiet else f": {e}")) from e


@contextlib.contextmanager
def address_env_hidden() -> Iterator[None]:
    """Hide ADDRESS_ENV from Ray while it resolves an address, so the address we chose is the one used."""
    saved = {k: os.environ.pop(k) for k in ADDRESS_ENV if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


# ---- live resources ---------------------------------------------------------------------------------------------

def live_nodes(address: str) -> list[dict[str, float]]:
    """Each alive node's total resources, from the dashboard's state API (what `ray list nodes` shows)."""
    from ray.util.state import list_nodes

    try:
        with address_env_hidden():
            nodes = list_nodes(address=address, filters=[("state", "=", "ALIVE")], raise_on_missing_output=False)
    except Exception as e:  # noqa: BLE001 - the state API raises several types; all mean "cannot read the cluster"
        raise RunError(f"cannot read the nodes of the Ray cluster at {address}: {e}") from e
    return [dict(n.resources_total) for n in nodes]


def check_resources(address: str, req: dict, wait_s: float) -> None:
    """Nodes, GPUs and CPUs against the plan, now or within `wait_s` seconds; short -> UserError naming each."""
    deadline = time.monotonic() + wait_s
    while True:
        checks = doctor.readiness(req, live_nodes(address))
        bad = doctor.missing(checks)
        left = deadline - time.monotonic()
        if not bad or left <= 0:
            break
        print(f"resources: waiting up to {left:.0f}s more: " + "; ".join(c.detail for c in bad), file=sys.stderr)
        time.sleep(min(RESOURCE_POLL_S, left))
    if bad:
        waited = f"after waiting {wait_s:g}s" if wait_s else "(checked once; --wait-for-resources S waits)"
        raise UserError(f"the Ray cluster at {address} is short of what the plan needs {waited}",
                        [Problem(c.name, c.detail, hint=c.fix) for c in bad])
    print(f"resources: {', '.join(c.detail.split(';')[0] for c in checks)}")


# ---- pre-flight -------------------------------------------------------------------------------------------------

def preflight(client: JobSubmissionClient, resolved: Resolved, plan: Plan) -> None:
    """Run doctor's checks as a tiny job on the target, with the job's env; anything missing -> UserError."""
    req = doctor.request(resolved.recipe, plan, resolved.shape.config)
    source = Path(doctor.__file__).read_text()
    sid = f"{submission_id(plan)}-preflight-{uuid.uuid4().hex[:6]}"
    submit_job(client, entrypoint=shlex.join(["python3", "-c", source, json.dumps(req)]),
               runtime_env={"env_vars": plan.env}, submission_id=sid)
    status = wait_terminal(client, sid)
    logs = client.get_job_logs(sid)
    line = next((ln for ln in logs.splitlines() if ln.startswith(doctor.MARKER)), None)
    if str(status) != "SUCCEEDED" or line is None:
        raise RunError(f"the pre-flight job {sid} ended {status}:\n{logs[-2000:]}")
    checks = [doctor.Check(**c) for c in json.loads(line[len(doctor.MARKER):])]
    bad = doctor.missing(checks)
    if bad:
        raise UserError(f"pre-flight on the target ({client.get_address()}) found {len(bad)} missing piece(s) or "
                        "rejection(s) by slime's own parser",
                        [Problem(c.name, c.detail, hint=c.fix) for c in bad])
    print(f"pre-flight: {', '.join(f'{c.name} {c.status}' for c in checks)}")


# ---- submit and follow ------------------------------------------------------------------------------------------

def submit(client: JobSubmissionClient, plan: Plan, sid: str) -> str:
    """Submit under `sid`; a running job with that id is followed instead, a finished one gets `sid-rN`."""
    for n in range(1, 1000):
        candidate = sid if n == 1 else f"{sid}-r{n}"
        status = job_status(client, candidate)
        if status is None:
            with run_config.runtime_env(plan) as runtime_env:  # Ray uploads the run config's working_dir
                runtime_env = {**runtime_env, "env_vars": {**runtime_env["env_vars"], **forwarded_env(plan)}}
                submit_job(client, entrypoint=job_entrypoint(plan), runtime_env=runtime_env, submission_id=candidate)
            print(f"submit: job {candidate} -> {client.get_address()}")
            return candidate
        if not status.is_terminal():
            print(f"submit: job {candidate} of this plan is already {status}; following it")
            return candidate
    raise RunError(f"too many earlier jobs named {sid}-rN; delete some with `ray job delete`")


def forwarded_env(plan: Plan, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The launch.forward_env variables' values from this environment, added to the job's env at submit time."""
    environ = dict(os.environ) if environ is None else environ
    names = plan.job.forward_env
    missing = [n for n in names if not environ.get(n)]
    if missing:
        raise user_error("launch.forward_env", f"{', '.join(missing)} not set in this environment",
                         rule="forwarded variables are read from the environment of the launching command",
                         hint=f"export {missing[0]}=... before launching, or drop it from launch.forward_env",
                         title="forwarded variable not set")
    return {n: environ[n] for n in names}


def submit_job(client: JobSubmissionClient, **job: Any) -> None:
    """submit_job, retried while a fresh head's job agent is still starting (HTTP 500 "No available agent to
    submit job" from the dashboard's job head; it comes up a little after the Job API answers)."""
    deadline = time.monotonic() + AGENT_START_TIMEOUT_S
    while True:
        try:
            client.submit_job(**job)
            return
        except RuntimeError as e:
            if "No available agent" not in str(e) or time.monotonic() > deadline:
                raise RunError(f"the Ray Job API at {client.get_address()} refused the job: {e}") from e
            time.sleep(POLL_S)


def job_status(client: JobSubmissionClient, sid: str) -> Any:
    try:
        return client.get_job_status(sid)
    except RuntimeError:  # the SDK raises RuntimeError for an unknown submission id
        return None


def wait_terminal(client: JobSubmissionClient, sid: str) -> Any:
    while not (status := client.get_job_status(sid)).is_terminal():
        time.sleep(POLL_S)
    return status


def follow(client: JobSubmissionClient, sid: str, target: Target) -> tuple[int, bool]:
    """Stream logs until the job ends -> (exit code, keep the local head). Ctrl-C asks: stop or detach."""
    try:
        asyncio.run(stream_logs(client, sid))
        return exit_code(client, sid, wait_terminal(client, sid)), False
    except KeyboardInterrupt:
        if _ask_stop():
            client.stop_job(sid)
            print(f"stopping job {sid} ...", file=sys.stderr)
            wait_terminal(client, sid)
            return 130, False
        print(f"detached; the job goes on. follow with: recipe-runner logs {sid} --follow{_address_flag(target)}",
              file=sys.stderr)
        if target.embedded:
            print("the local Ray head stays up for it; stop it later with `ray stop`", file=sys.stderr)
        return 0, True


async def stream_logs(client: JobSubmissionClient, sid: str) -> None:
    async for chunk in client.tail_job_logs(sid):
        sys.stdout.write(chunk)
        sys.stdout.flush()


def exit_code(client: JobSubmissionClient, sid: str, status: Any) -> int:
    if str(status) == "SUCCEEDED":
        print(f"job {sid} SUCCEEDED", file=sys.stderr)
        return 0
    message = client.get_job_info(sid).message or ""
    print(f"job {sid} ended {status}: {message}".rstrip(": "), file=sys.stderr)
    return 1


def _ask_stop() -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input("\n[s]top the job or [d]etach and leave it running? [s/D] ")
    except (KeyboardInterrupt, EOFError):
        return True  # a second Ctrl-C means stop
    return answer.strip().lower().startswith("s")


def _address_flag(target: Target) -> str:
    return "" if target.address == DEFAULT_ADDRESS else f" --address {target.address}"


# ---- dry run ----------------------------------------------------------------------------------------------------

def dry_run(resolved: Resolved, plan: Plan, target: Target, sid: str, opts: Options) -> str:
    """Exactly what `launch` would do, in order; changes nothing."""
    out = [f"launch {plan.recipe} (dry run: nothing is converted, started or submitted)",
           f"fingerprint {plan.fingerprint}"]
    out += [f"warning: {w}" for w in plan.warnings]
    n = 0

    def item(name: str, text: str) -> None:
        nonlocal n
        n += 1
        out.append(f"  {n}. {name:<10} {text}")

    dequant = next((s for s in plan.steps if isinstance(s, Dequantize)), None)
    if dequant:
        item("dequant", f"dequantize {dequant.src} -> {dequant.dst} in-process (skipped when conversion.json "
             f"matches): {shlex.join(dequant.argv)}")
    conv = conversion(plan)
    if conv:
        step, _ = conv
        done = already_converted(plan)
        item("convert", f"skip: {step.dst} already holds this {step.kind} conversion of {step.src}" if done
             else f"convert {step.src} -> {step.dst} in-process: {shlex.join(step.argv)}")
    if target.embedded:
        head = shlex.join([*plan.step("ray-head").argv, "--block"])
        item("ray-head", f"start a local head, stopped at the end: {head}")
    else:
        item("ray-head", f"use the Ray cluster at {target.address} from {target.source} "
             "(nothing is started or stopped)")
    req = doctor.request(resolved.recipe)
    wait = f"wait up to {opts.wait_for_resources:g}s" if opts.wait_for_resources else "check once"
    item("resources", f"{req['nodes']} node(s), {req['bundles']} GPU(s), {req['bundles']} CPU(s) alive ({wait})")
    dist = next((s for s in plan.steps if isinstance(s, TorchDist)), None)
    if dist:
        nodes = f", torchrun on {dist.nnodes} nodes (a Ray task each)" if dist.across_nodes else ""
        item("torch-dist", f"a Ray job on the target{nodes}, skipped there when {dist.save} holds this conversion: "
             f"(cd {dist.slime} && {shlex.join(dist.converter_argv)})")
    checks = ["entrypoint " + req["entrypoint"]]
    if req["gpus"]:
        checks += [m for m, _, _ in doctor.STACK] + [f"{req['gpus']} {req['gpu']} GPUs"]
        checks += [doctor.INT4_MODULE] if req["int4_extension"] else []
    checks.append("slime's own parse_args on the plan's argv and env")
    item("preflight", "check on the target: " + ", ".join(checks))
    item("submit", f"job {sid} to {target.address}")
    out.append(f"       entrypoint: {job_entrypoint(plan)}")
    out.append(f"       runtime_env: {json.dumps({'env_vars': plan.env})}")
    if plan.run_config:
        out.append(f"       working_dir: a temp dir holding {RUN_CONFIG_FILE} (the W&B run config), uploaded by Ray")
    forwarded = plan.job.forward_env
    if forwarded:
        out.append(f"       forwarded from this environment at submit time: {', '.join(forwarded)}")
    item("follow", "stream the job's logs; exit code 0 if it SUCCEEDED, 1 otherwise; Ctrl-C: stop or detach")
    return "\n".join(out) + "\n"


def _multi_node_needs_cluster(plan: Plan) -> UserError:
    return user_error(
        "cluster.nodes", f"{plan.nodes} nodes, and no Ray cluster was named",
        rule="launch starts a local head only for a single node; other nodes must join a head themselves",
        hint="start the cluster (recipe-runner plan ... --format sbatch, or the ray-head/ray-workers steps of "
             "--format shell), then launch with --address http://HEAD:8265 (docs/launch.md)",
        title="a multi-node recipe needs a running cluster")
