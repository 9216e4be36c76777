"""The W&B convention: every run says which recipe, mode and checkpoint it is, so runs compare by config.

slime's primary `wandb.init` (THUDM/slime@624b824a:slime/observability/wandb_utils.py, reference §3.7)
passes project, entity, group, name, mode, dir and `config=args` explicitly and passes no tags or notes.
An explicitly passed argument beats W&B's environment variables (checked with wandb 0.31), so each
part of the convention travels by the one path that reaches W&B:

| part | path | lands in |
|---|---|---|
| project, entity, dir, mode | `--wandb-project`, `--wandb-team`, `--wandb-dir`, `--wandb-mode` | run.project, ... |
| group (recipe or sweep id) | `--wandb-group` + `--disable-wandb-random-suffix` | run.group (and, by slime, run.name) |
| tags (mode, model, cluster, group size) | `WANDB_TAGS` in the job env | run.tags |
| run name, recipe, job env, fingerprints | `WANDB_NOTES` in the job env: a name line, then JSON | run.notes |

`WANDB_NAME` and `WANDB_RUN_GROUP` lose to slime's explicit arguments, and `WANDB_CONFIG_PATHS` fails
settings validation in wandb 0.31, so the convention's config rides in the notes; `compare` reads it
back. The API key never appears here: slime and W&B read `WANDB_API_KEY` (or `~/.netrc`) at run time;
a recipe names it in `launch.forward_env` and the secrets policy (secret_policy.py) refuses it anywhere else.
Pure: no wandb import.
"""

from __future__ import annotations

import hashlib
import json

from recipe_runner.layout import label
from recipe_runner.precision import conversion_args, mode
from recipe_runner.resolve import fingerprint
from recipe_runner.spec import Recipe

NOTES_MARK = "recipe-runner config: "
CONFIG_KEY = "recipe_runner"


def enabled(r: Recipe) -> bool:
    """On when the recipe enables W&B or names a project, unless its mode is `disabled`."""
    w = r.wandb
    return (w.enabled or w.project is not None) and w.mode != "disabled"


def run_name(r: Recipe) -> str:
    return name_for(r.name, r.precision.mode, fingerprint(r))


def name_for(recipe: str, mode_name: str, recipe_fingerprint: str) -> str:
    return f"{recipe}-{mode_name}-{recipe_fingerprint[:8]}"


def group(r: Recipe) -> str:
    return r.wandb.group or r.name


def group_size(r: Recipe) -> int | None:
    return r.precision.group_size if mode(r.precision.mode).uses_group_size else None


def tags(r: Recipe) -> tuple[str, ...]:
    """Mode, model, cluster and INT4 group size: the facets runs are filtered by."""
    out = [r.precision.mode, r.model.name, r.cluster.name]
    g = group_size(r)
    return (*out, f"g{g}") if g else tuple(out)


def conversion_fingerprint(r: Recipe) -> str:
    """sha256 of what the rollout checkpoint is made from: mode, converter params, source and destination.

    An explicit `checkpoints.rollout` is identified by its path; BF16 rollout by the HF checkpoint.
    """
    m = mode(r.precision.mode)
    parts = {"format": m.rollout_format, "hf": r.checkpoints.hf, "rollout": r.checkpoints.rollout}
    if m.conversion and not r.checkpoints.rollout:
        parts["conversion"] = [m.conversion, *conversion_args(m, r.precision.group_size)]
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def run_config(r: Recipe, job_env: dict[str, str]) -> dict:
    """The convention's config block: identity, resolved recipe, job env and both fingerprints."""
    return {
        "run_name": run_name(r), "recipe": r.name, "mode": r.precision.mode, "group_size": group_size(r),
        "layout": label(r), "fingerprint": fingerprint(r), "conversion_fingerprint": conversion_fingerprint(r),
        "env": {k: v for k, v in sorted(job_env.items()) if not k.startswith("WANDB_")},
        "resolved": r.model_dump(mode="json"),
    }


def notes(r: Recipe, job_env: dict[str, str]) -> str:
    body = json.dumps({CONFIG_KEY: run_config(r, job_env)}, sort_keys=True, separators=(",", ":"))
    return f"{run_name(r)}\n{NOTES_MARK}{body}"


def config_from_notes(text: str | None) -> dict:
    """The convention's config block back from a run's notes; {} for runs made without the convention."""
    for line in (text or "").splitlines():
        if line.startswith(NOTES_MARK):
            try:
                return json.loads(line[len(NOTES_MARK):]).get(CONFIG_KEY, {})
            except (json.JSONDecodeError, AttributeError):
                return {}
    return {}


def slime_args(r: Recipe) -> list[str]:
    """slime's W&B flags; never `--wandb-key` (the key comes from the job's environment)."""
    if not enabled(r):
        return []
    w = r.wandb
    args = ["--use-wandb", "--wandb-project", w.project or "", "--wandb-group", group(r),
            "--disable-wandb-random-suffix"]
    args += ["--wandb-team", w.team] if w.team else []
    args += ["--wandb-dir", w.dir] if w.dir else []
    return args + (["--wandb-mode", w.mode] if w.mode != "online" else [])


def wandb_env(r: Recipe, job_env: dict[str, str]) -> dict[str, str]:
    """The W&B env vars for the parts slime does not pass: tags and notes (which carry the config)."""
    if not enabled(r):
        return {}
    return {"WANDB_TAGS": ",".join(tags(r)), "WANDB_NOTES": notes(r, job_env)}

