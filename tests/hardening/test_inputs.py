"""Every bad input the hardening issue lists -> exit 2 naming the field or file, the rule and a fix.

Run in-process through cli.main, so a traceback would fail the test; each test covers a class's variants.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from recipe_runner import cli
from recipe_runner.api import plan
from recipe_runner.cli import main
from recipe_runner.explain import explain
from recipe_runner.limits import MAX_RECIPE_BYTES
from recipe_runner.models import BUNDLED_CONFIGS

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0  # root reads and writes through chmod 000
BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(  # 9**9 nodes once aliases are copied, from about 300 bytes
    f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
LEVELS = list(zip("abcdefgh", "bcdefghi", strict=True))
INTERPOLATION_BOMB = "a: [x,x,x,x,x,x,x,x,x]\n" + "".join(  # the same with ${a}: OmegaConf copies on resolve
    c + ": [" + ",".join(["'${" + p + "}'"] * 9) + "]\n" for p, c in LEVELS)
STRING_BOMB = "a: xxxxxxxxxx\n" + "".join(c + ": '" + ("${" + p + "}") * 9 + "'\n" for p, c in LEVELS)


def refused(capsys, *args: str) -> str:
    """Run the CLI; it must exit 2 with a rule or a fix and no traceback; return stderr."""
    code = main(list(args))
    got = capsys.readouterr()
    assert code == 2, (code, got.err)
    assert "Traceback" not in got.err and ("fix:" in got.err or "rule:" in got.err), got.err
    return got.err


def qwen_config(**changes: object) -> dict:
    cfg = json.loads((BUNDLED_CONFIGS / "qwen3-4b.json").read_text())
    return {**cfg, **changes}


# ---- model config.json (class 9) ---------------------------------------------------------------------------------

@pytest.mark.parametrize("content, needle", [
    ("[1, 2]", "JSON array"), ('"config"', "JSON string"), (b"\x89PNG\r\n\x1a\n\xff\xfe", "cannot read"),
    (json.dumps(qwen_config(num_hidden_layers=None)), "num_hidden_layers"),
    (json.dumps(qwen_config(hidden_size=[2560])), "hidden_size"),
    (json.dumps(qwen_config(num_attention_heads=0)), "num_attention_heads"),
    (json.dumps(qwen_config(intermediate_size=-1)), "intermediate_size"),
    (json.dumps(qwen_config(rms_norm_eps="small")), "rms_norm_eps"),
    (json.dumps(qwen_config(model_type=["qwen3"])), "model_type"),
    (json.dumps({"text_config": "qwen3"}), "text_config"),
    (b" " * (5 << 20) + b"{}", "byte limit"),
])
def test_a_bad_model_config_is_exit_2(tmp_path: Path, capsys, content: str | bytes, needle: str) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert needle in refused(capsys, "validate", "qwen3-4b-bf16", f"model.config={path}")


def test_zero_or_negative_model_dimensions_from_overrides_are_schema_errors(capsys) -> None:
    err = refused(capsys, "plan", "qwen3-4b-bf16", "+model.config_overrides.hidden_size=0",
                  "+model.config_overrides.num_key_value_heads=-8")
    assert "hidden_size" in err and "num_key_value_heads" in err and "model.config_overrides" in err


# ---- checkpoint files (class 9) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("files, needle", [
    ({"config.json": "[]"}, "config.json is not a JSON object"),
    ({"config.json": json.dumps(qwen_config(quantization_config="fp8"))}, "quantization_config"),
    ({"config.json": json.dumps(qwen_config(quantization_config={"ignore": "lm_head"}))}, "ignore"),
    ({"config.json": json.dumps(qwen_config(quantization_config={"config_groups": [1]}))}, "config_groups"),
    ({"model.safetensors.index.json": "[]"}, "the index"),
    ({"model.safetensors.index.json": json.dumps({"weight_map": ["a"]})}, "weight_map"),
])
def test_a_checkpoint_with_files_of_the_wrong_shape_is_exit_2(tmp_path: Path, capsys, files, needle) -> None:
    ck = tmp_path / "ck"
    ck.mkdir()
    for name, text in files.items():
        (ck / name).write_text(text)
    assert needle in refused(capsys, "validate", "qwen3-4b-bf16", f"checkpoints.hf={ck}")


# ---- paths: --out, --recipes-dir, --plot (class 9) --------------------------------------------------------------

def test_an_impossible_out_is_exit_2_and_leaves_nothing(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    assert "--out" in refused(capsys, "plan", "qwen3-4b-bf16", "--out", str(tmp_path / "file" / "sub"))
    assert "--out" in refused(capsys, "plan", "qwen3-4b-bf16", "--out", str(tmp_path / "file"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(ROOT_USER, reason="root writes through permissions")
def test_an_unwritable_out_or_unreadable_recipes_dir_is_exit_2(tmp_path: Path, capsys) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    assert "--out" in refused(capsys, "plan", "qwen3-4b-bf16", "--out", str(ro / "b"))
    (tmp_path / "locked").mkdir(mode=0)
    assert "--recipes-dir" in refused(capsys, "plan", "qwen3-4b-bf16", "--recipes-dir", str(tmp_path / "locked"))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "x.yaml").write_text("name: x\n")
    (tmp_path / "r" / "x.yaml").chmod(0)
    assert "cannot be read" in refused(capsys, "plan", "x", "--recipes-dir", str(tmp_path / "r"))


def offline_run(root: Path, records: list[object] | None = None, tail: bytes = b"") -> Path:
    """A `.wandb` transaction log framed as the SDK writes it (header, CRC-framed chunks), records from wandb.proto."""
    pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")
    if records is None:
        records = [pb.Record(run=pb.RunRecord(display_name="r", run_group="g", notes=""))]
    run = root / "offline-run-1"
    (run / "files").mkdir(parents=True)
    data = struct.pack("<4sHB", b":W&B", 0xBEE1, 0)
    for rec in records:
        body = rec.SerializeToString()
        data += struct.pack("<IHB", 0, len(body), 1) + body
    (run / "run-1.wandb").write_bytes(data + tail)
    return run


def test_malformed_offline_runs_are_exit_2(tmp_path: Path, capsys) -> None:
    pb = pytest.importorskip("wandb.proto.wandb_internal_pb2")
    truncated = offline_run(tmp_path / "t", records=[])
    assert "holds no run record" in refused(capsys, "compare", str(truncated))
    garbage = offline_run(tmp_path / "g", records=[pb.Record()], tail=struct.pack("<IHB", 0, 5, 1) + b"\xff" * 5)
    assert "does not decode" in refused(capsys, "compare", str(garbage))
    (garbage / "run-1.wandb").write_bytes(b"not a log")
    assert "not a W&B transaction log" in refused(capsys, "compare", str(garbage))


def test_plot_to_an_unknown_extension_or_an_unwritable_place_is_exit_2(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    run = offline_run(tmp_path / "w")
    assert "unknown image extension" in refused(capsys, "compare", str(run), "--plot", str(tmp_path / "p.xyz"))
    assert "no image extension" in refused(capsys, "compare", str(run), "--plot", str(tmp_path / "plot"))
    assert "not a writable directory" in refused(capsys, "compare", str(run), "--plot", str(tmp_path / "no/p.png"))
    (tmp_path / "d.png").mkdir()
    assert "is a directory" in refused(capsys, "compare", str(run), "--plot", str(tmp_path / "d.png"))


def test_ctrl_c_while_the_cli_starts_is_an_interrupt_not_a_traceback(monkeypatch, capsys) -> None:
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


# ---- overrides and recipe files (class 10) -----------------------------------------------------------------------

@pytest.mark.parametrize("override, needles", [
    ("~nope.x", ["nope.x", "no such key"]),
    ("precision=", ["precision", "selects no precision option", "bf16"]),
    ("precision=null", ["precision", "selects no precision option"]),
    ("hydra.run.dir=/tmp/x", ["hydra.run.dir", "Hydra's own configuration"]),
    ("+hydra.job.name=x", ["+hydra.job.name=x"]),
    ("optimizer.lr=inf", ["optimizer.lr", "finite"]),
    ("optimizer.lr=nan", ["optimizer.lr", "finite"]),
    ("name=", ["name", "letters, digits"]),
    ("name=../../x", ["name", "letters, digits"]),
    ("rollout.sglang.cuda_graph_bs=[1,-1]", ["rollout.sglang.cuda_graph_bs", "greater than 0"]),
    ("cluster.ray.head_ip=$(reboot)", ["override"]),
    ("cluster.ray.head_ip='10.0.0.1 --x'", ["cluster.ray.head_ip", "host name"]),
    ("cluster.ray.address=http://h:1/x?y", ["cluster.ray.address"]),
    ("+launch.env.A-B='1'", ["launch.env", "environment variable name"]),
    ("checkpoints.hf=--force", ["checkpoints.hf", "not starting with '-'"]),
])
def test_bad_overrides_name_the_key_and_the_rule(capsys, override: str, needles: list[str]) -> None:
    err = refused(capsys, "plan", "qwen3-4b-bf16", override)
    assert "qwen3-4b-bf16.yaml" not in err  # the override is to blame, not the shipped file
    for n in needles:
        assert n in err


@pytest.mark.parametrize("make, needle", [
    (lambda d: ((d / "r.yaml").write_text("defaults:\n  - b\n  - _self_\nname: r\n"),
                (d / "b.yaml").write_text("defaults:\n  - r\n  - _self_\nname: b\n")), "cycle"),
    (lambda d: (d / "r.yaml").mkdir(), "is a directory"),
    (lambda d: os.mkfifo(d / "r.yaml"), "FIFO"),
    (lambda d: (d / "r.yaml").symlink_to("r.yaml"), "symlink"),
    (lambda d: (d / "r.yaml").write_text(BOMB), "YAML nodes"),
    (lambda d: (d / "r.yaml").write_text(INTERPOLATION_BOMB), "interpolations resolve to over"),
    (lambda d: (d / "r.yaml").write_text(STRING_BOMB), "interpolations resolve to over"),
    (lambda d: (d / "r.yaml").write_text("name: r\n" + "# padding\n" * (MAX_RECIPE_BYTES // 10)), "bytes"),
    (lambda d: (d / "r.yaml").write_bytes(b"name: \xff\xfe\n"), "UTF-8"),
])
def test_bad_recipe_files_are_named_with_what_is_wrong(tmp_path: Path, capsys, make, needle: str) -> None:
    make(tmp_path)
    err = refused(capsys, "plan", "r", "--recipes-dir", str(tmp_path))
    assert needle in err and str(tmp_path) in err


def test_an_alias_bomb_in_a_group_option_and_a_path_as_recipe_name_are_refused(tmp_path: Path, capsys) -> None:
    assert len(BOMB) < 320
    (tmp_path / "precision").mkdir()
    (tmp_path / "precision" / "bf16.yaml").write_text(BOMB)
    assert "bf16.yaml" in refused(capsys, "plan", "qwen3-4b-bf16", "--recipes-dir", str(tmp_path))
    assert "not a recipe name" in refused(capsys, "plan", "../etc/passwd")


# ---- input limits (part 4) ---------------------------------------------------------------------------------------

def test_a_huge_sweep_is_refused_before_any_range_is_enumerated(capsys) -> None:
    err = refused(capsys, "sweep", "qwen3-4b-bf16", "rollout.batch_size=range(1,100000000)")
    assert "99999999 combinations" in err and "1000" in err
    assert "combinations" in refused(capsys, "sweep", "qwen3-4b-bf16", "rollout.batch_size=range(1,50)",
                                     "rollout.num_rollout=range(1,50)")


# ---- meaning kept (class 8, part 6) ------------------------------------------------------------------------------

def test_a_value_equal_to_a_flag_is_kept() -> None:
    args = plan("qwen3-4b-bf16", ["data.input_key=--colocate", "data.label_key=--colocate"]).train_args
    assert args[args.index("--input-key") + 1] == "--colocate" and args[args.index("--label-key") + 1] == "--colocate"
    assert args.count("--colocate") == 3
    mla = plan("kimi-k2-thinking-int4").train_args
    assert mla.count("--attention-softmax-in-fp32") == 1  # MLA model args and MISC share it: emitted once


def test_recipes_dir_group_options_shadow_shipped_ones_for_shipped_recipes(tmp_path: Path) -> None:
    (tmp_path / "precision").mkdir()
    mine = tmp_path / "precision" / "bf16.yaml"
    mine.write_text("mode: fp8-rollout\n")
    assert plan("qwen3-4b-bf16", [], str(tmp_path)).mode == "fp8-rollout"
    assert str(mine) in explain("qwen3-4b-bf16", "precision.mode", [], str(tmp_path)).setter
    assert plan("qwen3-4b-bf16").mode == "bf16"
