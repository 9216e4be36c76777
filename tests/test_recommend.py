"""recommend: properties of the search, not tuned answers (issue: precision guidance as commands)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recipe_runner import api
from recipe_runner.checks import errors, run_checks
from recipe_runner.compose import list_recipes
from recipe_runner.errors import UserError
from recipe_runner.hardware import GPUS
from recipe_runner.recommend import DEFAULT_HEADROOM, Request, base_recipe, fit_findings, recommend
from recipe_runner.resolve import fingerprint, resolve

CONFIGS = Path(__file__).resolve().parents[1] / "recipe_runner" / "data" / "model-configs"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "recipe_runner.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def moe_one_node():
    return api.recommend("qwen3-30b-a3b", Request("H200", 1, top=8))[0]


def test_every_row_validates_and_plans_exactly(moe_one_node):
    base, base_overrides = base_recipe("qwen3-30b-a3b", None)
    assert moe_one_node.rows
    for row in moe_one_node.rows:
        resolved = resolve(base, [*base_overrides, *row.overrides])
        assert fingerprint(resolved.recipe) == fingerprint(row.recipe), row.overrides
        assert not errors(run_checks(resolved))
        plan = api.plan(base, [*base_overrides, *row.overrides])
        assert plan.mode == row.mode


def test_rows_are_ranked_and_every_feasible_mode_is_shown(moe_one_node):
    indexes = [r.index for r in moe_one_node.rows]
    modes = [r.mode for r in moe_one_node.rows]
    assert set(modes) == {"bf16", "fp8-rollout", "fp8-full", "int4-qat", "int4-rollout"}
    firsts = modes[:5]
    assert sorted(indexes[:5], reverse=True) == indexes[:5] and len(set(firsts)) == 5
    assert max(r.index for r in moe_one_node.rows if r.mode == "bf16") == pytest.approx(1.0)
    assert all(r.why and r.why[0] for r in moe_one_node.rows)


def _modes(model: str, gpu: str, nodes: int) -> set[str]:
    try:
        rec, _ = api.recommend(model, Request(gpu, nodes, top=50))
    except UserError:
        return set()
    return {r.mode for r in rec.rows}


@pytest.mark.parametrize(("model", "gpu", "small", "large"), [
    ("qwen3-235b-a22b", "H100", 2, 4), ("qwen3-30b-a3b", "A100", 1, 2)])
def test_less_memory_never_adds_modes(model, gpu, small, large):
    assert _modes(model, gpu, small) <= _modes(model, gpu, large)
    assert _modes(model, "H100", large) <= _modes(model, "H200", large)


def test_shipped_layouts_are_feasible_on_their_clusters():
    for name, _ in list_recipes():
        res = resolve(name)
        r = res.recipe
        usable = (1 - DEFAULT_HEADROOM) * GPUS[r.cluster.gpu].memory_gb * 1e9
        assert not errors(fit_findings(r, res.shape, usable)), name
        rec = recommend(res, Request(r.cluster.gpu, r.cluster.nodes, r.cluster.gpus_per_node, top=50))
        assert r.precision.mode in {row.mode for row in rec.rows}, name


def test_infeasible_request_exits_2_naming_the_binding_constraint():
    out = _cli("recommend", "qwen3-235b-a22b", "--gpus", "H100", "--nodes", "1")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "nothing fits on 1x8 H100" in out.stderr and "memory.train-states" in out.stderr


def test_fp8_training_excluded_on_a100_with_the_rule():
    rec, _ = api.recommend("qwen3-4b", Request("A100", 1))
    excluded = {x.mode: x for x in rec.excluded}
    assert "fp8-full" in excluded and "fp8-rollout" in excluded
    assert excluded["fp8-full"].reason == "precision.gpu" and "compute capability" in excluded["fp8-full"].message


def test_model_config_path_and_json_output(tmp_path):
    out = _cli("recommend", "--model-config", str(CONFIGS / "qwen3-4b.json"), "--gpus", "h200", "--nodes", "1",
               "--top", "3", "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert len(data["rows"]) == 3 and data["gpu"] == "H200"


def test_write_emits_a_recipe_that_validates_and_never_overwrites(tmp_path):
    out = _cli("recommend", "qwen3-30b-a3b", "--gpus", "H200", "--nodes", "1", "--write", str(tmp_path))
    assert out.returncode == 0, out.stderr
    written = list(tmp_path.glob("*.yaml"))
    assert len(written) == 1
    check = _cli("validate", written[0].stem, "--recipes-dir", str(tmp_path))
    assert check.returncode == 0, check.stderr
    again = _cli("recommend", "qwen3-30b-a3b", "--gpus", "H200", "--nodes", "1", "--write", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr


@pytest.mark.parametrize("args", [["qwen3-30b", "--gpus", "H200", "--nodes", "1"],
                                  ["qwen3-30b-a3b", "--gpus", "V100", "--nodes", "1"],
                                  ["qwen3-30b-a3b", "--gpus", "H200", "--nodes", "1", "--modes", "fp4"],
                                  ["--gpus", "H200", "--nodes", "1"]])
def test_bad_input_exits_2(args):
    out = _cli("recommend", *args)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
