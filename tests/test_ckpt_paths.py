"""checkpoints.save and checkpoints.load when the recipe leaves them unset: one directory per plan beside the
release (`<hf>_slime/<recipe>-<fingerprint[:8]>`), load = save, in train.py's argv and in `explain`."""

from __future__ import annotations

import pytest
import yaml

from recipe_runner.api import plan
from recipe_runner.ckpt_paths import derive
from recipe_runner.errors import UserError
from recipe_runner.explain import explain
from recipe_runner.plan import Plan
from recipe_runner.render import render
from recipe_runner.resolve import resolve
from tests.conftest import run_cli
from tests.launch.kube import KUBE

UNSET = ["checkpoints.hf=/data/Qwen3-4B/", "~checkpoints.save", "~checkpoints.load"]  # the catalogue sets both


def flag(p: Plan, name: str) -> str:
    return p.train_args[p.train_args.index(name) + 1]


def test_unset_save_and_load_derive_one_directory_per_plan() -> None:
    resolved = resolve("qwen3-4b-fp8", UNSET)
    p = plan("qwen3-4b-fp8", UNSET)
    want = f"/data/Qwen3-4B_slime/qwen3-4b-fp8-{resolved.fingerprint[:8]}"
    assert flag(p, "--save") == flag(p, "--load") == want
    assert p.paths["checkpoints.save"] == p.paths["checkpoints.load"] == want  # KubeRay's storage check sees it
    origins = derive(resolved.recipe).origins
    assert origins["save"] == ("derived: checkpoints.hf + '_slime/<recipe name>-<fingerprint[:8]>' (one directory "
                               "per plan: the same plan resumes from it, another recipe or override set does not)")
    assert origins["load"].startswith("derived: checkpoints.save")


def test_the_same_plan_resumes_and_another_does_not() -> None:
    def save(name: str, *overrides: str) -> str:
        return flag(plan(name, [*UNSET, *overrides]), "--save")

    first = save("qwen3-4b-fp8")
    assert save("qwen3-4b-fp8") == first
    others = {save("qwen3-4b-fp8", "optimizer.lr=2e-6"), save("qwen3-4b-fp8", "rollout.num_rollout=7"),
              save("qwen3-4b-bf16")}
    assert len(others) == 3 and first not in others
    assert all(s.startswith("/data/Qwen3-4B_slime/") for s in [first, *others])


def test_a_given_save_or_load_is_used_as_it_is() -> None:
    saved = plan("qwen3-4b-fp8", ["checkpoints.save=/ckpt/run", "~checkpoints.load"])
    assert flag(saved, "--save") == flag(saved, "--load") == "/ckpt/run"
    loaded = plan("qwen3-4b-fp8", [*UNSET, "checkpoints.load=/ckpt/old"])
    assert flag(loaded, "--load") == "/ckpt/old" and flag(loaded, "--save").startswith("/data/Qwen3-4B_slime/")
    assert derive(resolve("qwen3-4b-fp8").recipe).origins["save"] == "set in the recipe"


def test_explain_shows_where_save_and_load_came_from() -> None:
    shown = explain("qwen3-4b-fp8", "checkpoints.save", UNSET)
    assert shown.value == flag(plan("qwen3-4b-fp8", UNSET), "--save")
    assert shown.setter.startswith("derived: checkpoints.hf + '_slime/")
    assert "also in (overridden): recipe qwen3-4b-fp8" in shown.text()  # the file's value, cleared by `~`
    assert explain("qwen3-4b-fp8", "checkpoints.save").setter.startswith("recipe qwen3-4b-fp8")
    cli = run_cli("explain", "qwen3-4b-fp8", "checkpoints.load", "checkpoints.hf=/d/Q", "checkpoints.load=null",
                  "checkpoints.save=/ckpt/run")
    assert cli.code == 0
    assert cli.out.splitlines()[:2] == ["checkpoints.load = '/ckpt/run'", "set by: derived: checkpoints.save "
                                        "(slime starts from --ref-load while it holds no checkpoint)"]


def test_kuberay_storage_holds_the_derived_save() -> None:
    kube = [*(o for o in KUBE if not o.startswith(("checkpoints.save=", "checkpoints.load="))), *UNSET[1:]]
    p = plan("qwen3-4b-bf16", kube)
    assert flag(p, "--save").startswith("/data/model_slime/qwen3-4b-bf16-")  # beside checkpoints.hf, on its volume
    assert yaml.safe_load(render(p, "rayjob"))["kind"] == "RayJob"
    read_only = plan("qwen3-4b-bf16", [*kube, "cluster.storage.volumes=[{name:shared,pvc:slime-shared,"
                                              "mount_path:/data,read_only:true}]"])
    with pytest.raises(UserError) as e:
        render(read_only, "rayjob")
    assert [pr.where for pr in e.value.problems] == ["checkpoints.save"]


def test_save_goes_with_save_interval() -> None:
    """Megatron requires --save-interval with --save (NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py:
    836-838): the schema's 20 (slime's scripts) when a recipe leaves it out; null saves nothing, so no --save."""
    default = plan("qwen3-4b-fp8", [*UNSET, "~checkpoints.save_interval"])
    assert flag(default, "--save-interval") == "20" and flag(default, "--save") == flag(default, "--load")
    off = plan("qwen3-4b-fp8", [*UNSET, "checkpoints.save_interval=null"])
    assert "--save" not in off.train_args and "--save-interval" not in off.train_args
    assert flag(off, "--load").startswith("/data/Qwen3-4B_slime/qwen3-4b-fp8-")
    assert "checkpoints.save" not in off.paths and "checkpoints.load" in off.paths  # no volume needed for it
    shown = explain("qwen3-4b-fp8", "checkpoints.save", [*UNSET, "checkpoints.save_interval=null"]).setter
    assert shown.startswith("derived: ") and shown.endswith("unused: checkpoints.save_interval is null, so "
                                                            "training saves no checkpoint")
