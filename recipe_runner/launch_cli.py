"""`launch`, `status`, `logs`, `stop`, `doctor`: parse, call one function in launch/doctor, print, exit code.

Registered by cli._register_optional; Ray is imported only when a command runs.
"""

from __future__ import annotations

import argparse
import os
import sys

from recipe_runner.cli import EPILOG, _recipe_args
from recipe_runner.errors import UserError

ADDRESS_HELP = "Ray dashboard address (http://HEAD:8265); default: $RAY_ADDRESS, else http://127.0.0.1:8265"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="run a recipe on Ray: convert, local head or --address, submit, follow",
                       epilog=EPILOG)
    _recipe_args(p)
    p.add_argument("--address", help="submit to this Ray cluster (dashboard address); default: $RAY_ADDRESS, "
                   "else start a local head for the run")
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
    if args.out:
        from recipe_runner.bundle import write_bundle

        print(f"bundle: {write_bundle(resolved, plan, args.out, args.recipes_dir)}", file=sys.stderr)
    return launch(resolved, plan, Options(args.address, args.dry_run, args.detach))


def cmd_status(args: argparse.Namespace) -> int:
    client = _client(args)
    info = client.get_job_info(args.job_id)
    print(f"{args.job_id}  {info.status}" + (f"  {info.message}" if info.message else ""))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from recipe_runner.launch import stream_logs

    client = _client(args)
    if args.follow:
        import asyncio

        asyncio.run(stream_logs(client, args.job_id))
    else:
        sys.stdout.write(client.get_job_logs(args.job_id))
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    client = _client(args)
    stopped = client.stop_job(args.job_id)
    print(f"{args.job_id}: {'stop requested' if stopped else 'not running'}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from recipe_runner import doctor
    from recipe_runner.api import check

    resolved, _ = check(args.recipe, args.overrides, args.recipes_dir)
    checks = doctor.run_checks(doctor.request(resolved.recipe))
    sys.stdout.write(doctor.table(checks))
    bad = doctor.missing(checks)
    if bad:
        raise UserError(f"this node lacks {len(bad)} piece(s) recipe {args.recipe!r} needs: "
                        + ", ".join(c.name for c in bad) + " (see the fixes above)")
    return 0


def _client(args: argparse.Namespace):  # -> JobSubmissionClient (ray is imported lazily)
    from recipe_runner.launch import DEFAULT_ADDRESS, connect

    address = args.address or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS
    return connect(address if "://" in address else f"http://{address}")
