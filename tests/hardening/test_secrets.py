"""The secrets policy over every output: refused anywhere in a recipe, forwarded by name, never written."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.errors import UserError
from recipe_runner.launch import forwarded_env
from recipe_runner.render import FORMATS, render
from tests.hardening import stubs
from tests.launch.kube import KUBE

SENTINEL = "sentinel-5ecret-4a7d0b1e"
FORWARD = "+launch.forward_env=[WANDB_API_KEY]"


@pytest.fixture(autouse=True)
def secret_env(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", SENTINEL)
    monkeypatch.setenv("MY_SERVICE_TOKEN", SENTINEL + "-2")


@pytest.mark.parametrize("override, field", [
    ("+launch.env.TOKEN=${oc.env:WANDB_API_KEY}", "launch.env.TOKEN"),
    ("wandb.group=${oc.env:WANDB_API_KEY}", "wandb.group"),
    ("+launch.env.HF_TOKEN=abc", "launch.env.HF_TOKEN"),
    ("+launch.env.WANDB_API_KEY=abc", "launch.env.WANDB_API_KEY"),
    (f"checkpoints.hf=/models/{SENTINEL}", "checkpoints.hf"),
    ("+training.extra_args=[--x,${oc.env:MY_SERVICE_TOKEN}]", "training.extra_args[1]"),
])
def test_a_secret_anywhere_in_a_recipe_is_refused_and_never_printed(override, field, tmp_path, capsys) -> None:
    out = tmp_path / "bundle"
    assert main(["plan", "qwen3-4b-bf16", "wandb.project=p", override, "--format", "shell", "--out", str(out)]) == 2
    got = capsys.readouterr()
    assert field in got.err and "launch.forward_env" in got.err and "Traceback" not in got.err
    assert SENTINEL not in got.out + got.err
    assert not list(tmp_path.iterdir())


def test_tokenizers_parallelism_and_keys_outside_env_are_not_secrets(capsys) -> None:
    assert main(["plan", "qwen3-4b-bf16", '+launch.env.TOKENIZERS_PARALLELISM="false"', "data.input_key=prompt",
                 "--format", "json"]) == 0


def test_forwarded_by_name_in_every_rendering_and_bundle_never_by_value(tmp_path: Path) -> None:
    p = plan("qwen3-30b-a3b-int4", ["cluster.nodes=2", "cluster.ray.head_ip=10.0.0.1", "wandb.project=p", FORWARD,
                                    *KUBE])
    texts = {fmt: render(p, fmt) for fmt in FORMATS}
    assert [fmt for fmt, text in texts.items() if SENTINEL in text] == []
    assert p.step("submit").forward_env == ["WANDB_API_KEY"]
    assert json.loads(texts["json"])["steps"][-1]["forward_env"] == ["WANDB_API_KEY"]
    # the scripts reference "$WANDB_API_KEY" and pass its value to `ray job submit` at run time
    for fmt in ("shell", "sbatch"):
        assert '"${WANDB_API_KEY:?' in texts[fmt]
        if shutil.which("shellcheck"):
            (tmp_path / f"{fmt}.sh").write_text(texts[fmt])
            subprocess.run(["shellcheck", str(tmp_path / f"{fmt}.sh")], check=True)
        calls = stubs.run(texts[fmt], tmp_path, p.nodes, p.gpus_per_node, {"WANDB_API_KEY": SENTINEL})
        submit = [c for c in calls if c[:3] == ["ray", "job", "submit"]]
        env = json.loads(submit[0][submit[0].index("--runtime-env-json") + 1])
        assert env["env_vars"]["WANDB_API_KEY"] == SENTINEL
    # the rayjob takes it from a Kubernetes Secret
    pod = yaml.safe_load(texts["rayjob"])["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert pod["containers"][0]["env"] == [{"name": "WANDB_API_KEY", "valueFrom": {"secretKeyRef": {
        "name": "recipe-runner-env", "key": "WANDB_API_KEY"}}}]
    # the launcher puts it into the runtime env at submit time
    assert forwarded_env(p) == {"WANDB_API_KEY": SENTINEL}
    assert SENTINEL not in p.env.get("WANDB_NOTES", "") and SENTINEL not in json.dumps(p.to_dict())


def test_a_bundle_with_a_forwarded_secret_holds_no_value(tmp_path: Path, capsys) -> None:
    out = tmp_path / "b"
    assert main(["plan", "qwen3-4b-bf16", "wandb.project=p", FORWARD, "--out", str(out)]) == 0
    assert [f.name for f in out.rglob("*") if f.is_file() and SENTINEL in f.read_text()] == []
    assert main(["launch", "qwen3-4b-bf16", "wandb.project=p", FORWARD, "--dry-run"]) == 0
    got = capsys.readouterr()
    assert SENTINEL not in got.out + got.err and "forwarded from this environment" in got.out


def test_a_forwarded_variable_that_is_not_set_stops_launch_with_exit_2(monkeypatch) -> None:
    monkeypatch.delenv("WANDB_API_KEY")
    p = plan("qwen3-4b-bf16", [FORWARD])
    with pytest.raises(UserError) as e:
        forwarded_env(p)
    assert "WANDB_API_KEY" in e.value.render() and "export" in e.value.render()
    script = render(p, "shell")
    with pytest.raises(AssertionError, match="export WANDB_API_KEY"):
        stubs.run(script, Path(__import__("tempfile").mkdtemp()))
