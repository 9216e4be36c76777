"""The routes the hardening issue found, one by one: a value never becomes shell code or a YAML document."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import yaml

from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.render import render
from tests.hardening import stubs
from tests.launch.kube import KUBE

PWNED = "1\npwned\n"


def ran_pwned(script: str, root: Path, nodes: int = 1) -> bool:
    return any(c[0] == "pwned" for c in stubs.run(script, root, nodes, 8, {"WANDB_API_KEY": "x" * 8}))


def test_a_warning_quoting_launch_env_through_oc_env_stays_a_comment(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RR_GROUP", PWNED)
    for fmt in ("shell", "sbatch"):
        assert main(["plan", "qwen3-30b-a3b-int4", "launch.env.OPEN_TRAINING_INT4_GROUP_SIZE=${oc.env:RR_GROUP}",
                     "--format", fmt]) == 0
        script = capsys.readouterr().out
        assert "OPEN_TRAINING_INT4_GROUP_SIZE=1\\u000apwned" in script  # one comment line, escaped
        assert not ran_pwned(script, tmp_path)


def test_a_newline_in_a_path_stays_inside_its_word_and_the_rayjob_stays_one_document(tmp_path: Path,
                                                                                    monkeypatch) -> None:
    monkeypatch.setenv("RR_HF", "/data/x\n---\nkind: Pod\n$(pwned)")
    p = plan("qwen3-30b-a3b-int4", [*KUBE, "checkpoints.hf=${oc.env:RR_HF}"])
    docs = list(yaml.safe_load_all(render(p, "rayjob")))
    assert [d["kind"] for d in docs] == ["RayJob"]
    assert p.step("convert").argv[3] in docs[0]["metadata"]["annotations"]["recipe-runner/run-first"]
    for fmt in ("shell", "sbatch"):
        assert not ran_pwned(render(p, fmt), tmp_path)


def test_a_worker_command_with_a_hostile_address_stays_a_comment(tmp_path: Path) -> None:
    """head_ip is a validated host now; the writer is safe even if one got through (the multi-node comment)."""
    p = plan("qwen3-235b-a22b-int4", ["cluster.ray.head_ip=10.0.0.1"])
    steps = [dataclasses.replace(s, head_ip="10.0.0.1\npwned") if s.name == "ray-workers" else s for s in p.steps]
    assert not ran_pwned(render(dataclasses.replace(p, steps=steps), "shell"), tmp_path, nodes=8)


def test_names_and_hosts_with_line_breaks_are_refused(capsys, monkeypatch) -> None:
    monkeypatch.setenv("RR_NAME", "x\npwned")
    for override in ("name=${oc.env:RR_NAME}", "cluster.ray.head_ip=${oc.env:RR_NAME}",
                     "wandb.group=${oc.env:RR_NAME}"):
        assert main(["plan", "qwen3-4b-bf16", override, "--format", "json"]) == 2
        assert override.split("=")[0] in capsys.readouterr().err


def test_a_bundle_of_a_hostile_recipe_replans_to_the_same_fingerprint(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RR_TEXT", "a\n---\n${oc.env:HOME} '\"`pwned`")
    out = tmp_path / "b"
    assert main(["plan", "qwen3-4b-bf16", "description=${oc.env:RR_TEXT}", "--format", "json", "--out",
                 str(out)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["plan", "recipe", "--recipes-dir", str(out), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["fingerprint"] == first["fingerprint"]
    assert len(list(yaml.safe_load_all((out / "recipe.yaml").read_text()))) == 1
