"""Run bundle (`--out DIR`): everything needed to see, repeat and audit one run, written atomically.

The bundle's `recipe.yaml` is the fully resolved recipe, itself a recipe: `recipe-runner plan recipe --recipes-dir DIR`
(or `launch`) composes it back to the same Recipe, hence the same fingerprint and plan, whatever the recipes
directory looks like later. manifest.json records where it came from (git commit and dirty state of the recipes dir).
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from recipe_runner import __version__, run_config
from recipe_runner.compose import SHIPPED_RECIPES, as_literal
from recipe_runner.errors import RunError, UserError, user_error
from recipe_runner.pipeline import checked_plan
from recipe_runner.plan import Plan
from recipe_runner.prep_steps import TorchDist, preparation
from recipe_runner.render import render, yml
from recipe_runner.render.sh import command as sh_command
from recipe_runner.render.sh import comment
from recipe_runner.resolve import Resolved
from recipe_runner.secret_policy import redact

RECIPE_FILE = "recipe.yaml"
RECIPE_NAME = "recipe"  # the bundle dir holds <RECIPE_NAME>.yaml, so it works as a --recipes-dir
CLUSTER_FILES = {"launch.sh": "shell", "rayjob.yaml": "rayjob", "sbatch.sh": "sbatch"}  # file -> render format
# errors about the path the user gave (exit 2); any other OSError while writing is a failure while running
USER_PATH_ERRNOS = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST, errno.ENAMETOOLONG,
                    errno.ELOOP, errno.EISDIR}


def write_bundle(resolved: Resolved, plan: Plan, out: str | Path, recipes_dir: str | None,
                 command: list[str] | None = None) -> Path:
    """Write the bundle into a temp dir beside OUT, then rename it into place: never half a bundle."""
    out = Path(out).resolve()
    return publish(out, lambda tmp: write_files(tmp, files(resolved, plan, out, recipes_dir, command or sys.argv)))


def publish(out: Path, fill: Callable[[Path], None]) -> Path:
    """Fill a temp dir beside `out`, then rename(2) it onto `out`, which must be missing or empty.

    The rename is atomic: of two commands writing the same `out` at once, one wins and the other gets
    exit 2; an interrupted or failed write leaves no temp dir and no partial `out`.
    """
    refuse_taken(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as e:
        raise path_error(out, e) from None
    try:
        fill(tmp)
        tmp.chmod(0o755)
        os.replace(tmp, out)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise taken(out) from None
        raise path_error(out, e) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def refuse_taken(out: Path) -> None:
    try:
        busy = out.exists() and (not out.is_dir() or any(out.iterdir()))
    except OSError as e:
        raise path_error(out, e) from None
    if busy:
        raise taken(out)


def taken(out: Path) -> UserError:
    return user_error("--out", f"{out} exists and is not an empty directory (or another command just wrote it)",
                      rule="a bundle is written whole, never over another run's files", hint="pick a new directory")


def path_error(out: Path, e: OSError) -> UserError | RunError:
    """An unwritable, read-only or impossible --out is the user's to fix (exit 2); a full disk is not (exit 1)."""
    if e.errno in USER_PATH_ERRNOS:
        return user_error("--out", f"cannot write {out}: {e.strerror}",
                          rule="--out must be a new or empty directory in a writable place",
                          hint="pick a directory you can write (its missing parents are created)")
    return RunError(f"writing the bundle {out} failed: {e.strerror or e}; nothing was left behind")


def inside(root: Path, name: str) -> Path:
    """root/name, refusing any name that would leave root (`..`, `/`, an absolute path)."""
    path = root / name
    if name in ("", ".", "..") or "/" in name or "\\" in name or path.resolve().parent != root.resolve():
        raise user_error("--out", f"{name!r} is not a plain directory name", rule="bundles stay inside --out",
                         hint="run and recipe names are slugs: letters, digits, '.', '_', '-'")
    return path


def write_files(root: Path, texts: dict[str, str]) -> None:
    """Each text at its relative path under root (`dir/file` makes `dir`), every component a plain name."""
    for name, text in texts.items():
        path = root
        for part in name.split("/"):
            path = inside(path, part)
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        if name.endswith(".sh"):
            path.chmod(0o755)


def files(resolved: Resolved, plan: Plan, out: Path, recipes_dir: str | None, command: list[str]) -> dict[str, str]:
    rendered, not_rendered = cluster_files(plan)
    meta = {**manifest(resolved, plan, out, recipes_dir, command), "not_rendered": not_rendered}
    run_config_file = {run_config.BUNDLE_PATH: plan.run_config} if plan.run_config else {}
    return {
        **run_config_file,
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
    return yml.dump(as_literal(resolved.recipe.model_dump(mode="json")), [
        f"The resolved recipe {resolved.recipe.name} (overrides: {shlex.join(resolved.overrides) or 'none'}).",
        f"Re-run: recipe-runner plan {RECIPE_NAME} --recipes-dir THIS_DIR"])


def convert_sh(plan: Plan) -> str:
    """The checkpoint preparation steps (dequant-bf16, torch-dist, convert) as a script of their own."""
    steps = preparation(plan.steps)
    body = [sh_command(step.argv) for step in steps]
    across = [comment(f"Its torch-dist step runs on {s.nnodes} nodes through Ray: run this on a node of the "
                      "running cluster.") for s in steps if isinstance(s, TorchDist) and s.across_nodes]
    return "\n".join(["#!/usr/bin/env bash",
                      comment(f"The checkpoint preparation of recipe {plan.recipe}; each step skips itself when its "
                              "output already holds it."),
                      *across, "set -euo pipefail", *body]) + "\n"


def manifest(resolved: Resolved, plan: Plan, out: Path, recipes_dir: str | None, command: list[str]) -> dict:
    return {
        "recipe": plan.recipe,
        "overrides": list(resolved.overrides),
        "mode": plan.mode,
        "fingerprint": plan.fingerprint,
        "recipe_runner_version": __version__,
        "recipes_dir": recipes_dir,
        "git": git_state(Path(recipes_dir) if recipes_dir else SHIPPED_RECIPES),
        "command": redact(command),
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
    resolved, plan, _ = checked_plan(name, overrides, recipes_dir)
    return write_bundle(resolved, plan, out, recipes_dir)
