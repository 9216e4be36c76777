"""`launch`, `status`, `logs`, `stop`, `doctor`: run a recipe on Ray, follow its job, check this node.

Ray is imported only when a command runs (launch.connect), never to build the parser.
"""

from __future__ import annotations

import argparse
import sys

from recipe_runner import api
from recipe_runner.cli.common import EPILOG, add_recipe_args

ADDRESS_HELP = ("Ray dashboard address (http://HEAD:8265); wins over $RAY_API_SERVER_ADDRESS and $RAY_ADDRESS, "
                "which come next; else http://127.0.0.1:8265")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="run a recipe on Ray: convert, local head or --address, submit, follow",
                       epilog=EPILOG)
    add_recipe_args(p)
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
    add_recipe_args(p)
    p.add_argument("--slime", metavar="PATH", help="a slime checkout to import its argument parsing from (default: "
                   "launch.working_dir, launch.pythonpath, then the installed slime)")
    p.set_defaults(func=cmd_doctor)


def cmd_launch(args: argparse.Namespace) -> int:
    options = api.Options(args.address, args.dry_run, args.detach, args.wait_for_resources)
    return api.launch(args.recipe, args.overrides, args.recipes_dir, options, args.out)


def cmd_status(args: argparse.Namespace) -> int:
    print(api.job_status(args.job_id, args.address))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    api.job_logs(args.job_id, args.address, args.follow)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    stopped = api.stop_job(args.job_id, args.address)
    print(f"{args.job_id}: {'stop requested' if stopped else 'not running'}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    checks, error = api.doctor(args.recipe, args.overrides, args.recipes_dir, args.slime)
    sys.stdout.write(api.doctor_table(checks))
    if error:
        raise error
    return 0
