"""The torch-dist step run for real (torch_dist_job, the `torch-dist` command, the generated shell script, launch's
Ray job) with a stand-in for slime's converter script: Kimi's model_type rewrite in a linked copy, skip when done,
refusals, atomic output, and the steps of a script running in order and skipping themselves on a second run."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.models import load_config
from recipe_runner.prep_steps import TorchDist
from recipe_runner.render import render
from recipe_runner.torch_dist_job import MANIFEST, TRACKER, run
from tests.launch.conftest import write_recipes
from tests.launch.slime_tools import tool_log, write_slime_tools
from tests.launch.stubs import run_script

REPO = Path(__file__).resolve().parents[2]
ARGS = ["--num-layers", "2", "--hidden-size", "256"]
# The real CLI, logging each call into the stub ray's log so the order of every command is visible
RECIPE_RUNNER = """\
#!{python}
import json, os, sys
with open(os.environ["STUB_LOG"], "a") as f:
    f.write(json.dumps(["recipe-runner", *sys.argv[1:]]) + "\\n")
sys.path.insert(0, {repo!r})
from recipe_runner.cli import main
from recipe_runner.models import load_config
sys.exit(main(sys.argv[1:]))
"""


def hf_dir(root: Path, model_type: str = "qwen3", **config: object) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"model_type": model_type, **config}))
    (root / "model.safetensors").write_text("weights")
    (root / "tokenizer.json").write_text("{}")
    return root


@pytest.fixture()
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("RR_TOOL_LOG", str(tmp_path / "tools.log"))
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")  # its python3
    return {"hf": str(hf_dir(tmp_path / "hf")), "save": str(tmp_path / "out" / "dist"),
            "slime": str(write_slime_tools(tmp_path / "slime")), "pythonpath": [str(tmp_path / "megatron")],
            "nproc_per_node": 1, "model_args": ARGS}


def test_converts_once_then_skips(spec: dict, tmp_path: Path, capsys) -> None:
    assert run(spec) == 0
    save = Path(spec["save"])
    assert (save / TRACKER).read_text() == "release"
    recorded = json.loads((save / MANIFEST).read_text())
    assert recorded["model_args"] == ARGS and recorded["hf"] == spec["hf"]
    (call,) = tool_log(tmp_path / "tools.log")
    assert call["argv"] == [*ARGS, "--hf-checkpoint", spec["hf"], "--save", call["argv"][-1]]
    assert call["cwd"] == spec["slime"] and call["pythonpath"].startswith(spec["pythonpath"][0])
    assert sorted(p.name for p in save.parent.iterdir()) == ["dist"]  # the temp dir is gone
    assert run(spec) == 0
    assert "already holds this conversion" in capsys.readouterr().out
    assert len(tool_log(tmp_path / "tools.log")) == 1


def test_kimi_model_type_is_rewritten_in_a_linked_copy(spec: dict, tmp_path: Path) -> None:
    kimi = hf_dir(tmp_path / "kimi", "kimi_k2", num_hidden_layers=61)
    assert run({**spec, "hf": str(kimi)}) == 0
    (call,) = tool_log(tmp_path / "tools.log")
    assert call["model_type"] == "deepseek_v3"
    assert call["weights"] == ["config.json", "model.safetensors", "tokenizer.json"]
    assert json.loads((kimi / "config.json").read_text())["model_type"] == "kimi_k2"  # the checkpoint is untouched
    assert json.loads((Path(spec["save"]) / MANIFEST).read_text())["hf"] == str(kimi)


@pytest.mark.parametrize("case, message", [
    ("other-args", "was converted with other model args"),
    ("not-torch-dist", "is not a torch_dist checkpoint"),
    ("quantized", "has a quantization_config"),
    ("no-source", "config.json not found"),
])
def test_bad_inputs_exit_2_and_change_nothing(case: str, message: str, spec: dict, tmp_path: Path, capsys) -> None:
    if case == "other-args":
        assert run(spec) == 0
        spec = {**spec, "model_args": ["--num-layers", "4"]}
    elif case == "not-torch-dist":
        Path(spec["save"]).mkdir(parents=True)
        (Path(spec["save"]) / "notes.txt").write_text("mine")
    elif case == "quantized":
        spec = {**spec, "hf": str(hf_dir(tmp_path / "fp8", quantization_config={"quant_method": "fp8"}))}
    else:
        spec = {**spec, "hf": str(tmp_path / "missing")}
    before = len(tool_log(tmp_path / "tools.log"))
    assert run(spec) == 2
    assert message in capsys.readouterr().err
    assert len(tool_log(tmp_path / "tools.log")) == before


def test_a_hand_made_torch_dist_is_used_as_it_is(spec: dict, tmp_path: Path, capsys) -> None:
    Path(spec["save"]).mkdir(parents=True)
    (Path(spec["save"]) / TRACKER).write_text("release")
    assert run(spec) == 0
    assert "made outside recipe-runner" in capsys.readouterr().out
    assert not tool_log(tmp_path / "tools.log")


def test_a_failed_conversion_leaves_nothing(spec: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys) -> None:
    monkeypatch.setenv("RR_TOOL_FAIL", "1")
    assert run(spec) == 1
    assert "was not written" in capsys.readouterr().err
    assert not Path(spec["save"]).exists() and list(Path(spec["save"]).parent.iterdir()) == []


def test_the_command_runs_the_plans_step(spec: dict, tmp_path: Path) -> None:
    argv = ["torch-dist", "--slime", spec["slime"], "--pythonpath", spec["pythonpath"][0], "--nproc-per-node", "1",
            spec["hf"], spec["save"], "--", *ARGS]
    assert main(argv) == 0
    assert json.loads((Path(spec["save"]) / MANIFEST).read_text())["model_args"] == ARGS


def tiny_int4(tmp_path: Path) -> list[str]:
    """The tiny Qwen3-MoE checkpoint as checkpoints.hf (also the model config), INT4 rollout, a new torch_dist."""
    pytest.importorskip("torch")
    from recipe_runner.models import BUNDLED_CONFIGS
    from tests.quant.tiny_models import EXPERTS, HEAD_DIM, HEADS, HIDDEN, KV_HEADS, LAYERS, VOCAB, make_checkpoint

    make_checkpoint(tmp_path / "hf", "qwen3_moe", shards=1)  # as tests/launch/test_offline.py builds it
    tiny = {**json.loads((BUNDLED_CONFIGS / "qwen3-30b-a3b.json").read_text()), "hidden_size": HIDDEN,
            "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
            "head_dim": HEAD_DIM, "vocab_size": VOCAB, "num_experts": EXPERTS, "num_experts_per_tok": 2,
            "moe_intermediate_size": 128, "intermediate_size": 384}
    (tmp_path / "hf" / "config.json").write_text(json.dumps(tiny))
    return ["precision=int4-rollout", f"model.config={tmp_path}/hf", "checkpoints.ref_load=null",
            f"checkpoints.torch_dist={tmp_path}/made_torch_dist", "cluster.ray.address=http://127.0.0.1:1"]


def test_shell_script_runs_the_steps_in_order_and_skips_them_when_done(tmp_path: Path) -> None:
    recipes = write_recipes(tmp_path)
    write_slime_tools(tmp_path)  # launch.working_dir of tiny-launch is tmp_path
    p = plan("tiny-launch", tiny_int4(tmp_path), str(recipes))
    assert [s.name for s in p.steps] == ["torch-dist", "convert", "submit"]
    script = render(p, "shell")
    dist = next(s for s in p.steps if isinstance(s, TorchDist))
    assert shlex.join(dist.argv[:3]) in script and "--num-layers" in script

    env = {"RR_TOOL_LOG": str(tmp_path / "tools.log")}
    for run_no in (1, 2):
        runs = tmp_path / f"run{run_no}"
        (runs / "rr-bin").mkdir(parents=True)
        (runs / "rr-bin" / "recipe-runner").write_text(RECIPE_RUNNER.format(python=sys.executable, repo=str(REPO)))
        (runs / "rr-bin" / "recipe-runner").chmod(0o755)
        result = run_script(runs, script, timeout=300, PATH=f"{runs}/bin:{runs}/rr-bin:{os.environ['PATH']}", **env)
        assert result.code == 0, result.err
        order = [c[1] if c[0] == "recipe-runner" else " ".join(c[:3]) for c in result.calls]
        assert order == ["torch-dist", "convert", "ray job submit"]
        if run_no == 1:
            record = (Path(p.rollout_checkpoint) / "conversion.json").stat().st_mtime_ns
    assert len(tool_log(tmp_path / "tools.log")) == 1  # the second run converted nothing
    assert (Path(p.rollout_checkpoint) / "conversion.json").stat().st_mtime_ns == record
    assert (tmp_path / "made_torch_dist" / TRACKER).is_file()


def test_launch_runs_torch_dist_as_a_ray_job_then_submits(tmp_path: Path, ray_address: str, capsys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    recipes = write_recipes(tmp_path)
    write_slime_tools(tmp_path)
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps(load_config("qwen3-4b")))  # the recipe's model
    overrides = ["checkpoints.ref_load=null", f"checkpoints.torch_dist={tmp_path}/made_torch_dist",
                 f"+launch.env.RR_TOOL_LOG={tmp_path}/tools.log"]
    args = ["launch", "tiny-launch", *overrides, "--recipes-dir", str(recipes), "--address", ray_address]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.index("torch-dist: job") < out.index("pre-flight:") < out.index("submit: job")
    (call,) = tool_log(tmp_path / "tools.log")
    p = plan("tiny-launch", overrides, str(recipes))
    assert call["argv"][:-1] == next(s for s in p.steps if isinstance(s, TorchDist)).converter_argv[2:-1]
    assert main(args) == 0  # the second launch skips it on the cluster
    assert "already holds this conversion" in capsys.readouterr().out
    assert len(tool_log(tmp_path / "tools.log")) == 1
    # a bad input of the step, found on the cluster, is exit 2 naming it, and nothing is submitted
    (tmp_path / "record.json").unlink()
    assert main([*args, f"checkpoints.hf={tmp_path}/absent", f"checkpoints.torch_dist={tmp_path}/other"]) == 2
    err = capsys.readouterr().err
    assert "checkpoints.torch_dist" in err and f"{tmp_path}/absent/config.json not found" in err
    assert not (tmp_path / "record.json").exists()


def test_a_downloaded_fp8_release_to_a_submitted_job_with_no_manual_step(tmp_path: Path) -> None:
    """docs/launch.md's walk-through on a tiny FP8 release: dequant-bf16 (the real converter), torch-dist, submit;
    the release itself is the rollout checkpoint; a second run of the script converts nothing."""
    from tests.launch.slime_tools import tool_log as log

    recipes = write_recipes(tmp_path)
    write_slime_tools(tmp_path)
    tiny_int4(tmp_path)  # the BF16 tiny model at tmp_path/hf, its config the recipe's model
    assert main(["convert", "fp8", str(tmp_path / "hf"), str(tmp_path / "release"), "--quiet"]) == 0
    p = plan("tiny-launch", ["precision=fp8-rollout", f"model.config={tmp_path}/hf",
                             f"checkpoints.hf={tmp_path}/release", "checkpoints.ref_load=null",
                             f"checkpoints.torch_dist={tmp_path}/made_torch_dist",
                             "cluster.ray.address=http://127.0.0.1:1"], str(recipes))
    assert [s.name for s in p.steps] == ["dequant-bf16", "torch-dist", "submit"]
    assert p.rollout_checkpoint == str(tmp_path / "release")
    script = render(p, "shell")
    for run_no in (1, 2):
        runs = tmp_path / f"run{run_no}"
        (runs / "rr-bin").mkdir(parents=True)
        (runs / "rr-bin" / "recipe-runner").write_text(RECIPE_RUNNER.format(python=sys.executable, repo=str(REPO)))
        (runs / "rr-bin" / "recipe-runner").chmod(0o755)
        result = run_script(runs, script, timeout=300, PATH=f"{runs}/bin:{runs}/rr-bin:{os.environ['PATH']}",
                            RR_TOOL_LOG=str(tmp_path / "tools.log"))
        assert result.code == 0, result.err
        assert [c[1] if c[0] == "recipe-runner" else " ".join(c[:3]) for c in result.calls] == [
            "convert", "torch-dist", "ray job submit"]
    (call,) = log(tmp_path / "tools.log")
    assert call["argv"][call["argv"].index("--hf-checkpoint") + 1] == str(tmp_path / "release-bf16")
    assert json.loads((tmp_path / "release-bf16" / "conversion.json").read_text())["mode"] == "bf16"
