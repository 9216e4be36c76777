"""`launch`, `status`, `logs`, `stop`, `doctor`: parse, call one function in launch/doctor, print, exit code.

Registered by cli._register_optional; Ray is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from recipe_runner.cli import EPILOG, _recipe_args
from recipe_runner.errors import RunError, UserError, user_error

ADDRESS_HELP = ("Ray dashboard address (http://HEAD:8265); wins over $RAY_API_SERVER_ADDRESS and $RAY_ADDRESS, "
                "which come next; else http://127.0.0.1:8265")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="run a recipe on Ray: convert, local head or --address, submit, follow",
                       epilog=EPILOG)
    _recipe_args(p)
    p.add_argument("--address", help="submit to this Ray cluster (dashboard address); wins over "
                   "$RAY_API_SERVER_ADDRESS, $RAY_ADDRESS and cluster.ray.address; with none, start a local head")
    p.add_argument("--wait-for-resources", type=float, default=0, metavar="SECONDS",
                   help="wait up to SECONDS for the cluster's nodes, GPUs and CPUs to reach the plan's "
                   "(default 0: check once; short -> exit 2 naming what is missing)")
    p.add_argument("--dry-run", action="store_true", help="print exactly what would run; change nothing")
    p.add_argument("--detach", action="store_true", help="submit and return; follow later with `logs --follow`")
    p.add_argument("--out", metavar="DIR", help="also write a run bundle to DIR")
    p.set_defaults(func=cmd_launch)

    for name, func, help_ in (("status", cmd_status, "a job's status"), ("logs", cmd_logs, "a job's logs"),
                              ("stop", cmd_stop, "stop a job")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("job_id", metavar="JOB_ID")
        p.add_argument("--address", help=ADDRESS_HELP)
        if name == "logs":
            p.add_argument("--follow", "-f", action="store_true", help="stream until the job ends")
        p.set_defaults(func=func)

    p = sub.add_parser("doctor", help="pre-flight checks for a recipe on this node", epilog=EPILOG)
    _recipe_args(p)
    p.add_argument("--slime", metavar="PATH", help="a slime checkout to import its argument parsing from (default: "
                   "launch.working_dir, launch.pythonpath, then the installed slime)")
    p.set_defaults(func=cmd_doctor)


def cmd_launch(args: argparse.Namespace) -> int:
    from recipe_runner.api import check
    from recipe_runner.launch import Options, launch
    from recipe_runner.plan import build_plan

    resolved, findings = check(args.recipe, args.overrides, args.recipes_dir)
    plan = build_plan(resolved, findings)
    if not args.dry_run:
        for w in plan.warnings:
            print(f"warning: {w}", file=sys.stderr)
    else:  # what could not be checked here, e.g. checkpoints not on this machine, as `validate` says it
        for f in findings:
            if f.severity == "note":
                print(f"note: {f.line()}", file=sys.stderr)
    if args.out:
        from recipe_runner.bundle import write_bundle

        print(f"bundle: {write_bundle(resolved, plan, args.out, args.recipes_dir)}", file=sys.stderr)
    if args.wait_for_resources < 0:
        raise UserError("--wait-for-resources must be 0 or more seconds")
    return launch(resolved, plan, Options(args.address, args.dry_run, args.detach, args.wait_for_resources))


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    info = _job_call(client, args.job_id, client.get_job_info)
    print(f"{args.job_id}  {info.status}" + (f"  {info.message}" if info.message else ""))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from recipe_runner.launch import stream_logs

    client = _client(args)
    if args.follow:
        import asyncio

        _job_call(client, args.job_id, client.get_job_info)  # the log stream of an unknown id just ends
        asyncio.run(stream_logs(client, args.job_id))
    else:
        sys.stdout.write(_job_call(client, args.job_id, client.get_job_logs))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    client = _client(args)
    stopped = _job_call(client, args.job_id, client.stop_job)
    print(f"{args.job_id}: {'stop requested' if stopped else 'not running'}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from recipe_runner import doctor
    from recipe_runner.api import check
    from recipe_runner.plan import build_plan

    resolved, findings = check(args.recipe, args.overrides, args.recipes_dir)
    plan = build_plan(resolved, findings)
    checks = doctor.probe_node(doctor.request(resolved.recipe, plan, resolved.shape.config, args.slime))
    sys.stdout.write(doctor.table(checks))
    lacking = [c.name for c in checks if c.status == "missing"]
    rejected = [c.name for c in checks if c.status == "rejected"]
    if lacking:
        raise UserError(f"this node lacks {len(lacking)} piece(s) recipe {args.recipe!r} needs: "
                        + ", ".join(lacking) + (f"; slime rejects the plan ({', '.join(rejected)})" if rejected
                                                else "") + " (see the fixes above)")
    if rejected:
        raise UserError(f"slime's own parser rejects the plan of {args.recipe!r} ({', '.join(rejected)}): "
                        "see the flag and the fix above")
    return 0


def _client(args: argparse.Namespace):  # -> JobSubmissionClient (ray is imported lazily)
    from recipe_runner.launch import DEFAULT_ADDRESS, connect, named_address

    address, _ = named_address(args.address) or (DEFAULT_ADDRESS, "default")
    return connect(address if "://" in address else f"http://{address}")


def _job_call(client: Any, job_id: str, call: Callable[[str], Any]) -> Any:
    """One Job API call about `job_id`; an id the cluster does not know is bad input (exit 2), not a traceback."""
    try:
        return call(job_id)
    except RuntimeError as e:  # the SDK raises RuntimeError("Request failed with status code 404: ...")
        if "404" not in str(e):
            raise RunError(f"the Ray Job API at {client.get_address()} failed: {e}") from e
        raise user_error("JOB_ID", f"no job {job_id!r} at {client.get_address()}",
                         hint=f"list the jobs with: ray job list --address {client.get_address()}") from e
