"""launch without a cluster: dry run, skip-if-converted, renderings, bundles, doctor, import hygiene."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.formats import Int4Params
from recipe_runner.launch import convert_if_needed
from recipe_runner.models import BUNDLED_CONFIGS
from recipe_runner.quant.record import conversion_matches
from tests.launch.conftest import write_recipes
from tests.launch.kube import KUBE


def test_dry_run_prints_every_step_and_starts_nothing(tmp_path: Path, capsys) -> None:
    recipes = write_recipes(tmp_path)
    assert main(["launch", "tiny-launch", "--recipes-dir", str(recipes), "--dry-run"]) == 0
    out = capsys.readouterr().out
    p = plan("tiny-launch", [], str(recipes))
    assert "start a local head, stopped at the end: ray start --head" in out and "--num-gpus 0" in out
    assert f"job tiny-launch-{p.fingerprint[:12]}" in out
    assert not (tmp_path / "record.json").exists()


def test_dry_run_with_an_address_starts_no_head(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("RAY_ADDRESS", "http://10.0.0.1:8265")
    recipes = str(write_recipes(tmp_path))
    assert main(["launch", "tiny-launch", "--recipes-dir", recipes, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "use the Ray cluster at http://10.0.0.1:8265 from $RAY_ADDRESS (nothing is started or stopped)" in out
    assert "1 node(s), 0 GPU(s), 0 CPU(s) alive (check once)" in out
    # Ray's own order among the variables, and --address over both
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://10.0.0.2:8265")
    assert main(["launch", "tiny-launch", "--recipes-dir", recipes, "--dry-run", "--wait-for-resources", "30"]) == 0
    out = capsys.readouterr().out
    assert "at http://10.0.0.2:8265 from $RAY_API_SERVER_ADDRESS" in out and "(wait up to 30s)" in out
    assert main(["launch", "tiny-launch", "--recipes-dir", recipes, "--dry-run", "--address", "10.0.0.3:8265"]) == 0
    assert "at http://10.0.0.3:8265 from --address" in capsys.readouterr().out


def test_skip_if_converted(tmp_path: Path, capsys) -> None:
    from tests.quant.tiny_models import EXPERTS, HEAD_DIM, HEADS, HIDDEN, KV_HEADS, LAYERS, VOCAB, make_checkpoint

    recipes = write_recipes(tmp_path)
    make_checkpoint(tmp_path / "hf", "qwen3_moe", shards=1)
    # an MoE config with the tiny checkpoint's sizes: INT4 quantizes its routed experts (a dense model would
    # quantize nothing, which validate refuses), and the checkpoint and the recipe's model agree
    tiny = {**json.loads((BUNDLED_CONFIGS / "qwen3-30b-a3b.json").read_text()), "hidden_size": HIDDEN,
            "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
            "head_dim": HEAD_DIM, "vocab_size": VOCAB, "num_experts": EXPERTS, "num_experts_per_tok": 2,
            "moe_intermediate_size": 128, "intermediate_size": 384}
    (tmp_path / "hf" / "config.json").write_text(json.dumps(tiny))
    INT4 = ["precision=int4-rollout", f"model.config={tmp_path}/hf"]  # group 128
    p = plan("tiny-launch", INT4, str(recipes))
    dst = Path(p.rollout_checkpoint)
    assert main(["launch", "tiny-launch", *INT4, "--recipes-dir", str(recipes), "--dry-run"]) == 0
    assert f"convert {tmp_path}/hf -> {dst}" in capsys.readouterr().out
    convert_if_needed(p)
    record = dst / "conversion.json"
    first = record.stat().st_mtime_ns
    convert_if_needed(p)
    assert "already holds this int4 conversion" in capsys.readouterr().out
    assert record.stat().st_mtime_ns == first
    assert main(["launch", "tiny-launch", *INT4, "--recipes-dir", str(recipes), "--dry-run"]) == 0
    assert f"skip: {dst} already holds" in capsys.readouterr().out
    # other parameters do not match the recorded conversion
    assert not conversion_matches(dst, tmp_path / "hf", "int4", Int4Params(64).to_json())


@pytest.mark.parametrize("recipe", ["qwen3-235b-a22b-int4", "qwen3-30b-a3b-int4", "qwen3-30b-a3b-fp8"])
def test_rayjob_is_a_kuberay_rayjob_sized_from_the_cluster(recipe: str) -> None:
    from recipe_runner.render import render

    p = plan(recipe, KUBE)
    doc = yaml.safe_load(render(p, "rayjob"))
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayJob")
    spec = doc["spec"]
    assert yaml.safe_load(spec["runtimeEnvYAML"]) == {"env_vars": p.env}
    head = spec["rayClusterSpec"]["headGroupSpec"]
    assert head["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == str(p.gpus_per_node)
    workers = spec["rayClusterSpec"].get("workerGroupSpecs", [])
    assert sum(w["replicas"] for w in workers) == p.nodes - 1
    assert shlex.split(spec["entrypoint"])[2:] == p.train_args


@pytest.mark.parametrize("fmt", ["sbatch", "shell"])
@pytest.mark.parametrize("recipe", ["qwen3-235b-a22b-int4", "qwen3-4b-bf16"])
def test_scripts_pass_bash_n_and_shellcheck(tmp_path: Path, recipe: str, fmt: str) -> None:
    from recipe_runner.render import render

    script = tmp_path / "s.sh"
    script.write_text(render(plan(recipe, ["cluster.ray.head_ip=10.0.0.1"]), fmt))
    subprocess.run(["bash", "-n", str(script)], check=True)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", str(script)], check=True)


def test_sbatch_starts_head_then_workers_then_submits() -> None:
    from recipe_runner.render import render

    text = render(plan("qwen3-235b-a22b-int4"), "sbatch")
    assert "#SBATCH --nodes=8" in text and "#SBATCH --gpus-per-node=8" in text
    steps = ("ray start --head", 'for node in "${nodes[@]:1}"', 'wait_for_ray "${head_addr}":6379 8 64',
             "ray job submit")
    order = [text.index(s) for s in steps]
    assert order == sorted(order)


def test_bundle_is_complete_and_reruns_to_the_same_plan(tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs" / "exp1"
    assert main(["plan", "qwen3-30b-a3b-int4", "precision.group_size=64", "--format", "json", "--out", str(out)]) == 0
    original = json.loads(capsys.readouterr().out)
    names = {"recipe.yaml", "plan.json", "launch.sh", "convert.sh", "sbatch.sh", "manifest.json"}
    assert {f.name for f in out.iterdir()} == names
    assert not [f for f in out.parent.iterdir() if f.name.startswith(".")]  # no temp dir left behind
    manifest = json.loads((out / "manifest.json").read_text())
    # no storage, image or pod size in the recipe: no RayJob, and the manifest says why
    assert list(manifest["not_rendered"]) == ["rayjob.yaml"] and "cluster.kuberay.image" in manifest["not_rendered"][
        "rayjob.yaml"]
    assert manifest["fingerprint"] == original["fingerprint"]
    assert manifest["overrides"] == ["precision.group_size=64"]
    assert set(manifest["git"]) == {"commit", "dirty"} and manifest["recipe_runner_version"]
    for script in ("launch.sh", "convert.sh", "sbatch.sh"):
        subprocess.run(["bash", "-n", str(out / script)], check=True)
    # re-run: the bundle dir is a recipes dir whose `recipe` is the resolved recipe
    rerun = manifest["rerun"]
    assert rerun[:3] == ["recipe-runner", "launch", "recipe"]
    assert main(["plan", "recipe", "--recipes-dir", str(out), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == original == json.loads((out / "plan.json").read_text())
    # a bundle never overwrites another run
    assert main(["plan", "qwen3-30b-a3b-int4", "--out", str(out)]) == 2
    assert "not an empty directory" in capsys.readouterr().err


def test_doctor_on_a_cpu_profile_checks_only_the_entrypoint(tmp_path: Path, capsys) -> None:
    recipes = write_recipes(tmp_path)
    assert main(["doctor", "tiny-launch", "--recipes-dir", str(recipes)]) == 0
    assert main(["doctor", "tiny-launch", "launch.entrypoint=/nope.py", "--recipes-dir", str(recipes)]) == 2
    out = capsys.readouterr()
    assert "missing  entrypoint" in out.out and "fix:" in out.out and "lacks 1 piece" in out.err


def test_plan_and_validate_do_not_import_ray() -> None:
    code = ("import sys; from recipe_runner.cli import main;"
            " codes = [main(['plan', 'qwen3-30b-a3b-int4', '--format', 'json']), main(['validate', 'qwen3-4b-bf16']),"
            " main(['launch', 'qwen3-4b-bf16', '--dry-run'])];"
            " assert codes == [0, 0, 0], codes;"
            " assert not [m for m in sys.modules if m.split('.')[0] in ('ray', 'torch')], 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
