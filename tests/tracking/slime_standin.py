"""slime's W&B logging for CI, written by us: slime's processes and their `wandb.init` arguments, real wandb SDK.

slime (THUDM/slime@624b824a) logs one job as one W&B run from three processes:

| process | slime's init | logs |
|---|---|---|
| train.py driver (train.py:15) | `init_wandb_primary` (observability/wandb_utils.py:22-79) | nothing |
| rollout manager (ray/rollout.py:402) | `init_wandb_secondary` (wandb_utils.py:123-163) | rollout/ perf/ eval/ (*) |
| Megatron actor (megatron_utils/actor.py:83) | `init_wandb_secondary(role="actor")` | train/, rollout/raw_reward |

The primary passes entity, project, group, name (= group without the random suffix), config = args plus
`env_vars`, offline settings and dir; a secondary passes id = the primary's run id, entity, project, config =
args, resume="allow", reinit=True, offline settings and dir. The actor's metrics come from
megatron_utils/model.py:898 and observability/train_metric_utils.py:138. (*) and passrate/, multi_turn/.

Each process then declares slime's step keys (wandb_utils.py:166-175) and logs `{metric: value, step key: step}`.
The args are the train.py argv parsed into a namespace, with each key of `--custom-config-path` set on it, as
slime's parse_args does (slime/utils/arguments.py:2013-2019); the secondaries get the driver's args (Ray pickles
them), carrying `wandb_run_id`. `IMPL` may instead name slime's own wandb_utils.py: the conformance harness
(tests/conformance/test_slime_wandb.py) runs the same processes through it and compares the recorded runs.

Usage as a script (the process model): `slime_standin.py driver IMPL METRICS.json -- TRAIN_ARGS...` in the
job's working directory, with the job's env.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

STANDIN = "standin"
READY = "wandb-init-done"  # a secondary's one line on stdout, once its wandb.init has returned
ROLLOUT_PREFIXES = ("rollout/", "perf/", "eval/", "passrate/", "multi_turn/")
ACTOR_METRICS = ("train/", "rollout/raw_reward")
# prefix -> slime's step key (wandb_utils.py:166-175)
STEP_KEYS = {"train": "train/step", "rollout": "rollout/step", "multi_turn": "rollout/step",
             "passrate": "rollout/step", "eval": "eval/step", "perf": "rollout/step"}
# the fields slime's wandb_utils reads, at slime's argparse defaults (slime/utils/arguments.py:1160-1190)
WANDB_DEFAULTS = {"use_wandb": False, "wandb_mode": None, "wandb_dir": None, "wandb_key": None, "wandb_host": None,
                  "wandb_team": None, "wandb_group": None, "wandb_project": None, "wandb_random_suffix": True,
                  "rank": 0, "use_critic": False, "megatron_config_path": None, "custom_config_path": None}
FLAG_DESTS = {"disable_wandb_random_suffix": ("wandb_random_suffix", False)}


def namespace(argv: list[str]) -> argparse.Namespace:
    """train.py argv -> slime-like args: `--a-b V` -> a_b="V", a bare flag -> True, then the custom config keys."""
    out = dict(WANDB_DEFAULTS)
    i = 0
    while i < len(argv):
        key = argv[i][2:].replace("-", "_")
        values = []
        i += 1
        while i < len(argv) and not argv[i].startswith("--"):
            values.append(argv[i])
            i += 1
        dest, value = FLAG_DESTS.get(key, (key, True if not values else values[0] if len(values) == 1 else values))
        out[dest] = value
    args = argparse.Namespace(**out)
    if args.custom_config_path:
        for k, v in (yaml.safe_load(Path(args.custom_config_path).read_text()) or {}).items():
            setattr(args, k, v)
    return args


# ---- the two inits, as slime calls wandb.init ------------------------------------------------------------------

def _settings(args: argparse.Namespace, primary: bool):
    import wandb

    if args.wandb_mode:
        os.environ["WANDB_MODE"] = args.wandb_mode
    if (args.wandb_mode or os.environ.get("WANDB_MODE")) == "offline":
        return wandb.Settings(mode="offline")
    extra = {"x_primary": True} if primary else {"x_primary": False, "x_update_finish_state": False}
    return wandb.Settings(mode="shared", **extra)


def standin_primary(args: argparse.Namespace) -> None:
    import wandb

    group = args.wandb_group if not args.wandb_random_suffix else f"{args.wandb_group}_{wandb.util.generate_id()}"
    name = args.wandb_group if not args.wandb_random_suffix else f"{group}-RANK_{args.rank}"
    config = {**vars(args), "env_vars": {k: v for k, v in os.environ.items() if k == "SLURM_JOB_ID"}}
    kwargs = {"entity": args.wandb_team, "project": args.wandb_project, "group": group, "name": name,
              "config": config, "settings": _settings(args, primary=True)}
    if args.wandb_dir:
        kwargs["dir"] = args.wandb_dir
    wandb.init(**kwargs)
    _define_step_keys()
    args.wandb_run_id = wandb.run.id


def standin_secondary(args: argparse.Namespace, role: str | None = None) -> None:
    import wandb

    kwargs = {"id": args.wandb_run_id, "entity": args.wandb_team, "project": args.wandb_project,
              "config": dict(vars(args)), "resume": "allow", "reinit": True,
              "settings": _settings(args, primary=False)}
    if args.wandb_dir:
        kwargs["dir"] = args.wandb_dir
    wandb.init(**kwargs)
    _define_step_keys()


def _define_step_keys() -> None:
    import wandb

    for key in dict.fromkeys(STEP_KEYS.values()):
        wandb.define_metric(key)
    for prefix, key in STEP_KEYS.items():
        wandb.define_metric(f"{prefix}/*", step_metric=key)


def _impl(name: str):
    """(primary, secondary): ours, or slime's own functions from the wandb_utils.py at path NAME."""
    if name == STANDIN:
        return standin_primary, standin_secondary
    spec = importlib.util.spec_from_file_location("slime_wandb_utils", name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.init_wandb_primary, module.init_wandb_secondary


# ---- the processes ----------------------------------------------------------------------------------------------

def owner(metric: str) -> str:
    """Which of slime's processes logs METRIC."""
    return "actor" if metric.startswith(ACTOR_METRICS) else "rollout"


def log_rows(metrics: Mapping[str, list], role: str) -> list[dict]:
    """What ROLE logs, one `log` call per (step key, step): {metric: value, ..., step key: step}."""
    rows: dict[tuple[str, float], dict] = {}
    for name, points in metrics.items():
        if owner(name) != role:
            continue
        key = STEP_KEYS[name.split("/", 1)[0]]
        for step, value in points:
            rows.setdefault((key, step), {key: step})[name] = value
    return [rows[k] for k in sorted(rows, key=lambda k: (k[1], k[0]))]


def driver(impl: str, metrics_file: str, argv: list[str]) -> None:
    """train.py: primary init, then the rollout manager and the actor as separate processes, then finish.

    The actor starts once the rollout manager's `wandb.init` has returned. In slime the rollout manager inits
    early in its __init__ (ray/rollout.py:402) and the actor only after Megatron's initialization
    (backends/megatron_utils/actor.py:80-83). Two offline inits of one run id in the same second race for one
    directory name, which the SDK says it cannot prevent (wandb 0.31 sdk/wandb_init.py, set_sync_dir_suffix):
    the loser's log is overwritten. Started at the same instant, the stand-in's two lost that race now and then
    (compare then showed no actor metrics for one run)."""
    import wandb

    primary, _ = _impl(impl)
    job_env = dict(os.environ)  # Ray starts its actors with the job's env, not the driver's (WANDB_SERVICE, ...)
    args = namespace(argv)
    primary(args)
    args_file = Path(f".slime-args-{args.wandb_run_id}.json")
    args_file.write_text(json.dumps(vars(args)))
    procs = []
    for role in ("rollout", "actor"):
        procs.append(subprocess.Popen([sys.executable, __file__, "secondary", impl, metrics_file, str(args_file), role],
                                      env=job_env, stdout=subprocess.PIPE, text=True))
        procs[-1].stdout.readline()  # its wandb.init has returned (or it has failed: EOF)
    codes = [p.wait() for p in procs]
    args_file.unlink()
    wandb.finish()
    if any(codes):
        raise SystemExit(f"a secondary process failed: {codes}")


def secondary(impl: str, metrics_file: str, args_file: str, role: str) -> None:
    import wandb

    _, init = _impl(impl)
    args = argparse.Namespace(**json.loads(Path(args_file).read_text()))
    init(args, role="actor") if role == "actor" else init(args)
    print(READY, flush=True)
    for row in log_rows(json.loads(Path(metrics_file).read_text()), role):
        wandb.log(row)
    wandb.finish()


def run_job(train_args: list[str], env: Mapping[str, str], workdir: Path, metrics: Mapping[str, list],
            impl: str = STANDIN) -> subprocess.Popen:
    """Start one job's driver in WORKDIR (the job's working dir) with the job's env; wait on the returned process.

    Its offline runs land in WORKDIR/wandb unless the args name --wandb-dir."""
    metrics_file = workdir / ".metrics.json"
    metrics_file.write_text(json.dumps(metrics))
    job_env = {**os.environ, **env, "WANDB_SILENT": "true"}
    return subprocess.Popen([sys.executable, __file__, "driver", impl, str(metrics_file), "--", *train_args],
                            cwd=workdir, env=job_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        out, _ = p.communicate()
        assert p.returncode == 0, f"slime stand-in job failed:\n{out}"


if __name__ == "__main__":
    command, rest = sys.argv[1], sys.argv[2:]
    if command == "driver":
        driver(rest[0], rest[1], rest[rest.index("--") + 1:])
    else:
        secondary(*rest)
