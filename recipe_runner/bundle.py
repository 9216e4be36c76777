"""Run bundle (`--out DIR`): everything needed to see, repeat and audit one run, written atomically.

The bundle's `recipe.yaml` is the fully resolved recipe, itself a recipe: `recipe-runner plan recipe --recipes-dir DIR`
(or `launch`) composes it back to the same Recipe, hence the same fingerprint and plan, whatever the recipes
directory looks like later. manifest.json records where it came from (git commit and dirty state of the recipes dir).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import yaml

from recipe_runner import __version__, run_config
from recipe_runner.compose import SHIPPED_RECIPES
from recipe_runner.errors import UserError, user_error
from recipe_runner.plan import Plan
from recipe_runner.render import render
from recipe_runner.resolve import Resolved

RECIPE_FILE = "recipe.yaml"
RECIPE_NAME = "recipe"  # the bundle dir holds <RECIPE_NAME>.yaml, so it works as a --recipes-dir
CLUSTER_FILES = {"launch.sh": "shell", "rayjob.yaml": "rayjob", "sbatch.sh": "sbatch"}  # file -> render format


def write_bundle(resolved: Resolved, plan: Plan, out: str | Path, recipes_dir: str | None,
                 command: list[str] | None = None) -> Path:
    """Write the bundle into a temp dir beside OUT, then rename it into place: never half a bundle."""
    out = Path(out).resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise user_error("--out", f"{out} exists and is not an empty directory",
                         rule="a bundle is written whole, never over another run's files", hint="pick a new directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for name, text in files(resolved, plan, out, recipes_dir, command or sys.argv).items():
            path = tmp / name
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
            if name.endswith(".sh"):
                path.chmod(0o755)
        tmp.chmod(0o755)
        os.replace(tmp, out)  # rename(2) onto a missing or empty directory is atomic
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def files(resolved: Resolved, plan: Plan, out: Path, recipes_dir: str | None, command: list[str]) -> dict[str, str]:
    rendered, not_rendered = cluster_files(plan)
    meta = {**manifest(resolved, plan, out, recipes_dir, command), "not_rendered": not_rendered}
    run_config_file = {run_config.BUNDLE_PATH: plan.run_config} if plan.run_config else {}
    return {**run_config_file,
        RECIPE_FILE: recipe_yaml(resolved),
        "plan.json": render(plan, "json"),
        "convert.sh": convert_sh(plan),
        **rendered,
        "manifest.json": json.dumps(meta, indent=2) + "\n",
    }


def cluster_files(plan: Plan) -> tuple[dict[str, str], dict[str, str]]:
    """The cluster formats this plan can become, and why the others cannot yet (e.g. a RayJob without storage)."""
    rendered, not_rendered = {}, {}
    for name, fmt in CLUSTER_FILES.items():
        try:
            rendered[name] = render(plan, fmt)
        except UserError as e:
            not_rendered[name] = e.render()
    return rendered, not_rendered


def recipe_yaml(resolved: Resolved) -> str:
    head = (f"# The resolved recipe {resolved.recipe.name} (overrides: {shlex.join(resolved.overrides) or 'none'}).\n"
            f"# Re-run: recipe-runner plan {RECIPE_NAME} --recipes-dir THIS_DIR\n")
    return head + yaml.safe_dump(resolved.recipe.model_dump(mode="json"), sort_keys=False)


def convert_sh(plan: Plan) -> str:
    step = plan.step("convert")
    body = (shlex.join(step.argv) if step else f"echo 'mode {plan.mode} needs no conversion'")
    return ("#!/usr/bin/env bash\n"
            f"# The conversion of recipe {plan.recipe}; skipped by the converter when DST already holds it.\n"
            f"set -euo pipefail\n{body}\n")


def manifest(resolved: Resolved, plan: Plan, out: Path, recipes_dir: str | None, command: list[str]) -> dict:
    return {
        "recipe": plan.recipe,
        "overrides": list(resolved.overrides),
        "mode": plan.mode,
        "fingerprint": plan.fingerprint,
        "recipe_runner_version": __version__,
        "recipes_dir": recipes_dir,
        "git": git_state(Path(recipes_dir) if recipes_dir else SHIPPED_RECIPES),
        "command": command,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rerun": ["recipe-runner", "launch", RECIPE_NAME, "--recipes-dir", str(out)],
    }


def git_state(path: Path) -> dict:
    """Commit and dirty state of the git checkout holding `path`; nulls outside git."""
    def git(*args: str) -> str | None:
        try:
            r = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True, check=False)
        except OSError:
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", ".") if commit else None
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def bundle_recipe(name: str, overrides: list[str], recipes_dir: str | None, out: str | Path) -> Path:
    """`plan --out`: resolve, check and plan the recipe, then write its bundle."""
    from recipe_runner.api import check
    from recipe_runner.plan import build_plan

    resolved, findings = check(name, overrides, recipes_dir)
    return write_bundle(resolved, build_plan(resolved, findings), out, recipes_dir)
