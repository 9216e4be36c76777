"""Put the plan's W&B run config where train.py reads it, for each way of running, before train.py starts.

train.py gets `--custom-config-path recipe-runner-run-config.yaml`, a path relative to its working directory
(tracking.py says why the config travels this way). Each way of running makes that directory hold the file:

| way | how |
|---|---|
| `launch` | a temp dir holding the file is the runtime env's `working_dir`: Ray uploads it, the job starts in it |
| shell, sbatch | write `recipe-runner-run-config/` beside the script (sbatch: `$SLURM_SUBMIT_DIR`); `--working-dir` |
| RayJob | its entrypoint writes the file into a directory on the head pod and starts train.py there |
| bundle | `recipe-runner-run-config/recipe-runner-run-config.yaml`, where its launch.sh writes it again |

The content is YAML text from the plan (yaml.safe_dump), put into shell only through shlex.quote.
"""

from __future__ import annotations

import shlex
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recipe_runner.plan import Plan
from recipe_runner.render.sh import comment, join, quote
from recipe_runner.tracking import RUN_CONFIG_DIR, RUN_CONFIG_FILE

BUNDLE_PATH = f"{RUN_CONFIG_DIR}/{RUN_CONFIG_FILE}"
SCRIPT_DIR = '"$(dirname "${BASH_SOURCE[0]}")"'
SLURM_SUBMIT_DIR = '"${SLURM_SUBMIT_DIR}"'


def write(plan: Plan, directory: Path) -> Path:
    """DIRECTORY/recipe-runner-run-config.yaml holding the plan's run config."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RUN_CONFIG_FILE
    path.write_text(plan.run_config)
    return path


@contextmanager
def runtime_env(plan: Plan) -> Iterator[dict]:
    """The Ray runtime env of the job: its env vars and, with a run config, a working_dir holding it."""
    if not plan.run_config:
        yield {"env_vars": plan.env}
        return
    tmp = Path(tempfile.mkdtemp(prefix="recipe-runner-"))
    try:
        yield {"env_vars": plan.env, "working_dir": str(write(plan, tmp / RUN_CONFIG_DIR).parent)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def script_lines(plan: Plan, where: str) -> list[str]:
    """bash lines that write the run config into WHERE/recipe-runner-run-config/ and cd to WHERE, so that the
    plan's `ray job submit --working-dir recipe-runner-run-config` uploads it. WHERE is one of this module's
    fixed shell words (SCRIPT_DIR, SLURM_SUBMIT_DIR); everything else goes through the shell writer."""
    if not plan.run_config:
        return []
    return [
        comment("the W&B run config (config.recipe_runner), read by train.py's --custom-config-path; "
                f"ray job submit uploads {RUN_CONFIG_DIR}/ as the job's working dir"),
        f"cd {where}",
        join(["mkdir", "-p", RUN_CONFIG_DIR]),
        join(["printf", "%s", plan.run_config]) + " > " + quote(BUNDLE_PATH),
    ]


def rayjob_entrypoint(plan: Plan, command: str) -> str:
    """The RayJob entrypoint: `sh -c SCRIPT` that writes the run config on the head pod (where the job's driver
    runs), then runs COMMAND there. One quoted word, because KubeRay pastes the entrypoint into the submitter's
    own shell command line."""
    if not plan.run_config:
        return command
    directory = f"/tmp/{RUN_CONFIG_DIR}-{plan.fingerprint[:16]}"
    path = f"{directory}/{RUN_CONFIG_FILE}"
    script = " && ".join([shlex.join(["mkdir", "-p", directory]),
                          f"printf '%s' {shlex.quote(plan.run_config)} > {shlex.quote(path)}",
                          shlex.join(["cd", directory]), "exec " + command])
    return shlex.join(["sh", "-c", script])
