"""The W&B convention: every run names its recipe, mode and checkpoint in its config, so runs compare by config.

slime (THUDM/slime@624b824a) logs one job as one W&B run from three processes: the train.py driver does the
primary `wandb.init` (slime/observability/wandb_utils.py:22-79: project, entity, group, name, settings, dir and
`config=args.__dict__`, all explicit), the rollout manager (slime/ray/rollout.py:402) and the Megatron actor
(slime/backends/megatron_utils/actor.py:83) attach to it with `init_wandb_secondary` (`id=args.wandb_run_id`,
`config=args.__dict__`, no group). With `--disable-wandb-random-suffix` the run's name IS its group
(wandb_utils.py:45-50). Each part of the convention travels by the one path that reaches W&B (checked with
wandb 0.31 offline; docs/tracking.md):

| part | path | lands in |
|---|---|---|
| project, entity, dir, mode | `--wandb-project --wandb-team --wandb-dir --wandb-mode` | run.project, ... |
| name = group `{recipe}-{mode}-{fp[:8]}` | `--wandb-group` + `--disable-wandb-random-suffix` | run.group, run.name |
| recipe_runner.{recipe, mode, group_size, ...} | `--custom-config-path` FILE: each key set on args | run.config |
| tags: mode, model, layout, g<size>, sweep:<id> | `WANDB_TAGS` in the job env | run.tags |
| job type = mode | `WANDB_JOB_TYPE` in the job env | run.job_type |

The run config file's keys are set on slime's args by its parse_args (slime/utils/arguments.py:2013-2019),
which is why it reaches the config of the primary and of both secondaries. `WANDB_NAME`/`WANDB_RUN_GROUP`/
`WANDB_PROJECT` lose to slime's explicit arguments and `WANDB_CONFIG_PATHS` makes `wandb.init` raise, so
neither carries anything. No secret reaches W&B: the recipe in the config is `secret_policy.redact`ed, and
tags and config are checked with `secret_policy.find_secrets`; a recipe that holds a secret is refused before
this (secret_policy.refuse_secrets), and names it in `launch.forward_env` instead. Pure apart from reading a
custom config the recipe names; no wandb import.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from recipe_runner import secret_policy
from recipe_runner.errors import user_error
from recipe_runner.layout import label
from recipe_runner.precision import conversion_params, mode, recipe_group_size
from recipe_runner.resolve import fingerprint
from recipe_runner.spec import Recipe
from recipe_runner.steps import Arg, converter_args

CONFIG_KEY = "recipe_runner"
CUSTOM_CONFIG_FLAG = "--custom-config-path"
RUN_CONFIG_DIR = "recipe-runner-run-config"  # the job's working dir on Ray: it holds only the run config file
RUN_CONFIG_FILE = "recipe-runner-run-config.yaml"  # relative to that working dir, where train.py starts
SWEEP_TAG = "sweep:"


def enabled(r: Recipe) -> bool:
    """On when the recipe enables W&B or names a project, unless its mode is `disabled`."""
    w = r.wandb
    return (w.enabled or w.project is not None) and w.mode != "disabled"


def name_for(recipe: str, mode_name: str, recipe_fingerprint: str) -> str:
    return f"{recipe}-{mode_name}-{recipe_fingerprint[:8]}"


def group(r: Recipe) -> str:
    """slime names the run after its group, so each run gets its own group unless the recipe sets one."""
    return r.wandb.group or name_for(r.name, r.precision.mode, fingerprint(r))


def run_name(r: Recipe) -> str:
    return group(r)


def tags(r: Recipe) -> tuple[str, ...]:
    """Mode, model, layout (NxG after overrides), INT4 group size and sweep: the facets runs are filtered by."""
    out = [r.precision.mode, r.model.name, label(r)]
    g = recipe_group_size(r)
    out += [f"g{g}"] if g else []
    out += [SWEEP_TAG + r.wandb.sweep] if r.wandb.sweep else []
    return tuple(out)


def conversion_fingerprint(r: Recipe) -> str:
    """sha256 of what the rollout checkpoint is made from: mode, converter params, source and destination.

    An explicit `checkpoints.rollout` is identified by its path; BF16 rollout by the HF checkpoint. The
    parameters are hashed as the converter's arguments (steps.converter_args), the form this hash has always
    had, so runs logged before the plan was typed still compare equal.
    """
    m = mode(r.precision.mode)
    parts = {"format": m.rollout_format, "hf": r.checkpoints.hf, "rollout": r.checkpoints.rollout}
    if m.conversion and not r.checkpoints.rollout:
        parts["conversion"] = [m.conversion, *converter_args(conversion_params(m, r.precision.group_size))]
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def identity(r: Recipe) -> dict:
    """The fields W&B groups, filters and colours runs by (config.recipe_runner.<field>)."""
    return {
        "run_name": run_name(r), "recipe": r.name, "mode": r.precision.mode, "group_size": recipe_group_size(r),
        "layout": label(r), "model": r.model.name, "fingerprint": fingerprint(r),
        "conversion_fingerprint": conversion_fingerprint(r), "sweep": r.wandb.sweep,
    }


def run_config(r: Recipe) -> dict:
    """The custom config slime reads: the recipe's own custom config (if it names one) plus `recipe_runner`."""
    custom = _custom_config(r)
    block = {**identity(r), "resolved": secret_policy.redact(r.model_dump(mode="json"))}
    config = {**custom, CONFIG_KEY: block}
    _refuse_secrets(config, "the run config")
    return config


def run_config_text(r: Recipe) -> str:
    """The run config file's content ('' when W&B is off): YAML, which slime's yaml.safe_load reads."""
    if not enabled(r):
        return ""
    return yaml.safe_dump(run_config(r), sort_keys=False, width=2**31)


def custom_config_path(args: list[str]) -> str | None:
    """The path a `--custom-config-path X` (or `=X`) in a recipe's extra train args names."""
    for i, a in enumerate(args):
        if a == CUSTOM_CONFIG_FLAG and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(CUSTOM_CONFIG_FLAG + "="):
            return a.split("=", 1)[1]
    return None


def without_custom_config(r: Recipe, args: list[str]) -> list[str]:
    """Extra train args minus their `--custom-config-path`, which the run config file absorbs when W&B is on."""
    if not enabled(r):
        return list(args)
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == CUSTOM_CONFIG_FLAG:
            skip = True
        elif not a.startswith(CUSTOM_CONFIG_FLAG + "="):
            out.append(a)
    return out


def _custom_config(r: Recipe) -> dict:
    """The recipe's own `--custom-config-path` file (training.extra_args), read where the plan is made."""
    path = custom_config_path(r.training.extra_args)
    if path is None:
        return {}
    field = f"training.extra_args {CUSTOM_CONFIG_FLAG}"
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise user_error(field, f"cannot read {path}: {e}", rule="with W&B on, the recipe's custom config is "
                         "merged into the run config file, so it must be readable where the plan is made",
                         hint="give a path readable here (or copy the file here)", title="custom config") from None
    if not isinstance(data, dict) or CONFIG_KEY in data:
        raise user_error(field, f"{path} is not a YAML mapping without a `{CONFIG_KEY}` key",
                         rule="slime sets each top-level key of the custom config on its args",
                         hint=f"make it a mapping; `{CONFIG_KEY}` is recipe-runner's", title="custom config")
    return data


def slime_args(r: Recipe) -> list[Arg]:
    """slime's W&B flags; never `--wandb-key` (the key comes from the job's environment)."""
    if not enabled(r):
        return []
    w = r.wandb
    args = [Arg("--use-wandb"), Arg("--wandb-project", (w.project or "",)), Arg("--wandb-group", (group(r),)),
            Arg("--disable-wandb-random-suffix")]
    args += [Arg("--wandb-team", (w.team,))] if w.team else []
    args += [Arg("--wandb-dir", (w.dir,))] if w.dir else []
    args += [Arg("--wandb-mode", (w.mode,))] if w.mode != "online" else []
    return [*args, Arg(CUSTOM_CONFIG_FLAG, (RUN_CONFIG_FILE,))]


def wandb_env(r: Recipe, job_env: dict[str, str]) -> dict[str, str]:
    """The W&B env vars for what slime does not pass: tags and job type."""
    if not enabled(r):
        return {}
    env = {"WANDB_TAGS": ",".join(tags(r)), "WANDB_JOB_TYPE": r.precision.mode}
    _refuse_secrets(env, "the W&B env vars")
    return env


def _refuse_secrets(data: object, what: str) -> None:
    found = next(secret_policy.find_secrets(data), None)
    if found:
        path, name = found
        raise user_error(path, f"holds the value of the secret {name}", rule=f"no secret may reach W&B ({what})",
                         hint=f"take {name}'s value out of the recipe and its overrides", title="secret in W&B field")
