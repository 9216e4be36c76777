"""The wheel, installed outside the checkout: the base install and each extra alone, each in its own venv.

One wheel is built from a copy of the checkout; each venv holds it and sees only the distributions its
declared dependencies (with that extra) bring (tests/isolated_env.py), so neither the checkout nor a
package another extra brings leaks in. The shipped recipes, schema and model configs come from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from recipe_runner.extras import EXTRAS
from tests.conftest import ROOT
from tests.isolated_env import make_venv

ENVS = {"base": set(), "convert": {"convert"}, "launch": {"launch"}, "track": {"track"}}
SHIPPED = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))
BUILD_JUNK = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", ".venv", "__pycache__", "wandb", "runs",
                                    ".*_cache", ".benchmarks")


# the venvs' own view: not this checkout (PYTHONPATH) nor the environment running the tests
CLEAN_ENV = {**{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}, "WANDB_SILENT": "true"}


def _run(cmd: list, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=CLEAN_ENV, **kw)
    assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-4000:])
    return proc


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("install")
    src, house = tmp / "src", tmp / "wheelhouse"
    shutil.copytree(ROOT, src, symlinks=True, ignore=BUILD_JUNK)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", house, src])
    wheel = next(house.glob("recipe_runner-*.whl"))
    for name, extras in ENVS.items():
        make_venv(tmp / name, wheel, extras)
    return {name: tmp / name for name in ENVS}


def _cli(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "recipe-runner"), *args], capture_output=True, text=True, cwd=cwd,
                          env=CLEAN_ENV)


def _needs_extra(result: subprocess.CompletedProcess, extra: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert f"needs the [{extra}] extra" in result.stderr and f"recipe-runner[{extra}]" in result.stderr


def test_extras_table_matches_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in EXTRAS:
        names = {req.split("[")[0].split(">")[0].split("=")[0].strip() for req in declared[extra.name]}
        assert set(extra.modules) == names, extra.name


def test_base_install_plans_every_shipped_recipe_and_names_missing_extras(venvs: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    base = venvs["base"]
    where = _run([base / "bin" / "python", "-c", "import recipe_runner; print(recipe_runner.__file__)"], cwd=tmp_path)
    assert where.stdout.startswith(str(base))
    listed = _cli(base, "list", cwd=tmp_path)
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == SHIPPED, listed.stderr
    code = ("import sys\nfrom recipe_runner.cli import main\n"
            f"sys.exit(max(main(['plan', r, '--format', 'json']) for r in {SHIPPED!r}))")
    plans = _run([base / "bin" / "python", "-c", code], cwd=tmp_path)
    assert plans.stdout.count('"fingerprint"') == len(SHIPPED)
    schema = _cli(base, "schema", cwd=tmp_path)
    assert schema.stdout == (ROOT / "schemas" / "recipe.schema.json").read_text()
    _needs_extra(_cli(base, "compare", "--project", "p", cwd=tmp_path), "track")
    _needs_extra(_cli(base, "convert", "fp8", str(_checkpoint(tmp_path / "ckpt")), "out", cwd=tmp_path), "convert")
    _needs_extra(_cli(base, "status", "job", cwd=tmp_path), "launch")


def _checkpoint(root: Path) -> Path:
    """A one-weight BF16 checkpoint written with the standard library (safetensors: 8-byte length + JSON)."""
    root.mkdir()
    n = 128 * 128
    data = b"".join(struct.pack("<f", ((i * 7919) % 255 - 127) / 4096)[2:] for i in range(n))  # bf16 = top half
    header = json.dumps({"model.layers.0.mlp.down_proj.weight": {"dtype": "BF16", "shape": [128, 128],
                                                                 "data_offsets": [0, 2 * n]}}).encode()
    (root / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
    (root / "config.json").write_text(json.dumps({"model_type": "qwen3"}))
    return root


def test_convert_extra_alone_converts_and_verifies(venvs: dict[str, Path], tmp_path: Path) -> None:
    venv, src = venvs["convert"], _checkpoint(tmp_path / "src")
    converted = _cli(venv, "convert", "fp8", str(src), str(tmp_path / "dst"), "--quiet", cwd=tmp_path)
    assert converted.returncode == 0, converted.stderr
    verified = _cli(venv, "verify", str(tmp_path / "dst"), "--source", str(src), cwd=tmp_path)
    assert verified.returncode == 0 and "OK" in verified.stdout, verified.stdout + verified.stderr
    _needs_extra(_cli(venv, "compare", "--project", "p", cwd=tmp_path), "track")


def test_launch_extra_alone_reaches_ray(venvs: dict[str, Path], tmp_path: Path) -> None:
    venv = venvs["launch"]
    _run([venv / "bin" / "python", "-c", "import ray.job_submission"], cwd=tmp_path)
    dry = _cli(venv, "launch", "qwen3-4b-bf16", "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0 and "dry run" in dry.stdout, dry.stderr
    _needs_extra(_cli(venv, "convert", "fp8", str(_checkpoint(tmp_path / "ckpt")), "out", cwd=tmp_path), "convert")


OFFLINE_RUN = """
import sys, wandb
run = wandb.init(project="p", group="g", name="r", mode="offline", dir=sys.argv[1])
for step in range(3):
    run.log({"train/loss": 1.0 / (step + 1), "train/step": step})
run.finish()
print(run.dir.rsplit("/files", 1)[0])
"""


def test_track_extra_alone_compares_and_plots(venvs: dict[str, Path], tmp_path: Path) -> None:
    venv = venvs["track"]
    run_dir = _run([venv / "bin" / "python", "-c", OFFLINE_RUN, tmp_path], cwd=tmp_path).stdout.split()[-1]
    compared = _cli(venv, "compare", run_dir, "--format", "json", "--metric", "train/loss",
                    "--plot", str(tmp_path / "c.png"), cwd=tmp_path)
    assert compared.returncode == 0, compared.stderr
    assert json.loads(compared.stdout) and (tmp_path / "c.png").stat().st_size > 0
    _needs_extra(_cli(venv, "convert", "fp8", str(_checkpoint(tmp_path / "ckpt")), "out", cwd=tmp_path), "convert")
