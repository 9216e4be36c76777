"""`export RUN_DIR --iteration N DST`: the run's saved iteration through slime's tool (a stand-in script here), with
the run's paths, vocab size, slime checkout and PYTHONPATH read back from its bundle; DST whole or absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recipe_runner.cli import main
from recipe_runner.models import load_config
from tests.launch.slime_tools import tool_log, write_slime_tools


@pytest.fixture()
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> Path:
    """A bundle of a qwen3-4b-bf16 run whose checkpoints.save holds iterations 20 and 40 (the latest)."""
    monkeypatch.setenv("RR_TOOL_LOG", str(tmp_path / "tools.log"))
    hf = tmp_path / "Qwen3-4B"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps(load_config("qwen3-4b")))
    save = tmp_path / "run-save"
    for it in (20, 40):
        (save / f"iter_{it:07d}").mkdir(parents=True)
    (save / "latest_checkpointed_iteration.txt").write_text("40")
    slime = write_slime_tools(tmp_path / "slime")
    bundle = tmp_path / "runs" / "exp1"
    assert main(["plan", "qwen3-4b-bf16", f"checkpoints.hf={hf}", f"checkpoints.save={save}",
                 f"launch.working_dir={slime}", f"launch.pythonpath=[{tmp_path}/Megatron-LM]",
                 "--out", str(bundle)]) == 0
    capsys.readouterr()
    return bundle


def test_export_runs_slimes_tool_with_the_runs_args(run_dir: Path, tmp_path: Path, capsys) -> None:
    dst = tmp_path / "out" / "exp1-iter20"
    assert main(["export", str(run_dir), "--iteration", "20", str(dst)]) == 0
    (call,) = tool_log(tmp_path / "tools.log")
    argv = call["argv"]
    assert argv[argv.index("--input-dir") + 1] == str(tmp_path / "run-save" / "iter_0000020")
    assert argv[argv.index("--origin-hf-dir") + 1] == str(tmp_path / "Qwen3-4B")
    assert argv[argv.index("--vocab-size") + 1] == str(load_config("qwen3-4b")["vocab_size"])
    assert call["cwd"] == str(tmp_path / "slime") and call["pythonpath"].startswith(f"{tmp_path}/Megatron-LM")
    assert sorted(p.name for p in dst.iterdir()) == ["config.json", "model-00000-of-00001.safetensors"]
    assert sorted(p.name for p in dst.parent.iterdir()) == ["exp1-iter20"]  # no temp dir left
    assert f"export: wrote {dst}" in capsys.readouterr().out


def test_the_latest_iteration_by_default_and_dry_run(run_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["export", str(run_dir), str(tmp_path / "x"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "tools/convert_torch_dist_to_hf.py --input-dir" in out and "iter_0000040" in out
    assert not tool_log(tmp_path / "tools.log") and not (tmp_path / "x").exists()


@pytest.mark.parametrize("case, where", [
    ("missing-iteration", "--iteration"),
    ("dst-exists", "exp-dst"),
    ("not-a-bundle", "nowhere"),
])
def test_bad_input_is_exit_2_and_runs_nothing(case: str, where: str, run_dir: Path, tmp_path: Path, capsys) -> None:
    dst = tmp_path / "exp-dst"
    args = ["export", str(run_dir), str(dst), "--iteration", "30"]
    if case == "dst-exists":
        dst.mkdir()
        args[-1] = "20"
    elif case == "not-a-bundle":
        args[1] = str(tmp_path / "nowhere")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert where in err and "Traceback" not in err
    if case == "missing-iteration":
        assert "iter_0000020, iter_0000040" in err
    assert not tool_log(tmp_path / "tools.log")


def test_a_failed_export_leaves_no_dst(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys) -> None:
    monkeypatch.setenv("RR_TOOL_FAIL", "1")
    dst = tmp_path / "out" / "fail"
    assert main(["export", str(run_dir), str(dst)]) == 1
    assert "was not written" in capsys.readouterr().err
    assert not dst.exists() and list(dst.parent.iterdir()) == []


def test_a_run_without_checkpoints_save_exports_from_its_derived_directory(tmp_path: Path, capsys) -> None:
    """The bundle's recipe re-derives the directory training saved into: the plan's own --save."""
    hf = tmp_path / "Qwen3-4B"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps(load_config("qwen3-4b")))
    bundle = tmp_path / "runs" / "derived"
    assert main(["plan", "qwen3-4b-bf16", f"checkpoints.hf={hf}", "~checkpoints.save", "~checkpoints.load",
                 "--out", str(bundle)]) == 0
    train = json.loads((bundle / "plan.json").read_text())["train_args"]
    save = Path(train[train.index("--save") + 1])
    assert save.parent == tmp_path / "Qwen3-4B_slime"
    (save / "iter_0000005").mkdir(parents=True)
    (save / "latest_checkpointed_iteration.txt").write_text("5")
    capsys.readouterr()
    assert main(["export", str(bundle), str(tmp_path / "x"), "--dry-run"]) == 0
    assert f"--input-dir {save}/iter_0000005" in capsys.readouterr().out
