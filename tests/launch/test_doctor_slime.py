"""`doctor --slime PATH`: slime's own argument parsing on the plan's exact argv and env, with a stand-in slime."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli
from tests.launch.conftest import write_recipes
from tests.launch.standin_slime import write_standin


def doctor(tmp_path: Path, *overrides: str, slime: Path | None = None):
    recipes = write_recipes(tmp_path)
    slime = slime or write_standin(tmp_path / "standin")
    return run_cli("doctor", "tiny-launch", *overrides, "--recipes-dir", str(recipes), "--slime", str(slime))


def test_the_plan_passes_and_what_is_absent_here_is_said_apart(tmp_path: Path) -> None:
    result = doctor(tmp_path, f"checkpoints.ref_load={tmp_path}/absent_torch_dist")
    assert result.code == 0, result.out + result.err
    assert "ok       slime parser" in result.out and "each consumed by a parser" in result.out
    assert f"not checked here  --ref-load {tmp_path}/absent_torch_dist is absent on this node" in result.out
    assert "rejected" not in result.out


def test_unknown_and_abbreviated_flags_fail_preflight(tmp_path: Path) -> None:
    result = doctor(tmp_path, "training.extra_args=[--bogus-flag,'3',--no-check-for-nan-in-loss-and-gr]")
    assert result.code == 2 and "Traceback" not in result.err
    assert "rejected slime argv" in result.out and "no parser of slime consumes --bogus-flag 3" in result.out
    assert "silently drop" in result.out and "fix:" in result.out
    assert "abbreviation of a longer flag: --no-check-for-nan-in-loss-and-gr" in result.out
    assert "slime's own parser rejects the plan" in result.err


def test_a_value_slime_rejects_names_the_flag_and_a_fix(tmp_path: Path) -> None:
    result = doctor(tmp_path, "model.extra_args=[--moe-layer-freq,'[1, 1]']")
    assert result.code == 2 and "Traceback" not in result.err
    assert "argument --moe-layer-freq: invalid moe_freq_type value: '[1, 1]'" in result.out
    assert "fix: correct --moe-layer-freq in the recipe" in result.out


def test_slime_not_importable_is_said_and_doctor_goes_on(tmp_path: Path) -> None:
    result = doctor(tmp_path, slime=tmp_path / "no-slime-here")
    assert result.code == 0, result.out + result.err
    assert "skipped  slime parser" in result.out and "not importable here" in result.out
