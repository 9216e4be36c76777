"""Hostile and careless input to convert, verify and inspect (issue 12, items 2, 4, 5, 6).

Every case goes through the real CLI `main`; each must end in one message and exit 2 (bad input) or a
clean result, never a traceback, and leave no output behind.
"""

from __future__ import annotations

import json
import math
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from recipe_runner.errors import UserError
from recipe_runner.formats import Fp8Params, Int4Params
from recipe_runner.quant.convert import convert_checkpoint
from recipe_runner.quant.record import conversion_matches

EXPERT = "model.layers.0.mlp.experts.0.down_proj.weight"


def cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    from recipe_runner.cli import main

    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def source(root: Path, tensors: dict[str, torch.Tensor], config: object = None) -> Path:
    root.mkdir(parents=True)
    save_file(tensors, str(root / "model.safetensors"), metadata={"format": "pt"})
    (root / "config.json").write_text(json.dumps({} if config is None else config))
    return root


def raw_source(root: Path, header: bytes, data: bytes = b"") -> Path:
    """A checkpoint whose one shard has exactly this header: what no safetensors writer would produce."""
    root.mkdir(parents=True)
    (root / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
    (root / "config.json").write_text("{}")
    return root


def leftovers(parent: Path, name: str) -> list[str]:
    return [p.name for p in parent.iterdir() if name in p.name]


def expert(rows: int = 64, cols: int = 128) -> dict[str, torch.Tensor]:
    return {EXPERT: torch.randn(rows, cols).bfloat16(), "model.norm.weight": torch.ones(cols, dtype=torch.bfloat16)}


# ---- safetensors headers -------------------------------------------------------------------------------------

BAD_HEADERS = {
    "bool dim": (json.dumps({EXPERT: {"dtype": "BF16", "shape": [True, 4], "data_offsets": [0, 8]}}), 8, "bad shape"),
    "list dtype": (json.dumps({EXPERT: {"dtype": ["BF16"], "shape": [2], "data_offsets": [0, 4]}}), 4, "dtype"),
    "deep json": ('{"a":' + "[" * 200_000 + "]" * 200_000 + "}", 0, "nests too deeply"),
    "huge dim": (json.dumps({EXPERT: {"dtype": "BF16", "shape": [0, 10**30], "data_offsets": [0, 0]}}), 0, "bad shape"),
    "negative offset": (json.dumps({EXPERT: {"dtype": "BF16", "shape": [2], "data_offsets": [-4, 0]}}), 0, "offsets"),
    "metadata list": (json.dumps({"__metadata__": ["x"]}), 0, "__metadata__"),
}


@pytest.mark.parametrize("case", list(BAD_HEADERS))
def test_malformed_headers_are_refused_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    header, nbytes, needle = BAD_HEADERS[case]
    src = raw_source(tmp_path / "src", header.encode(), b"\0" * nbytes)
    for argv in (("convert", "fp8", src, tmp_path / "out"), ("inspect", src), ("verify", src)):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and "model.safetensors" in err and needle in err, (argv, err)
    assert leftovers(tmp_path, "out") == []


def test_shard_that_is_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = source(tmp_path / "src", expert())
    (src / "x.safetensors").mkdir()
    code, _, err = cli(capsys, "convert", "int4", src, tmp_path / "out", "--group-size", "32")
    assert code == 2 and "x.safetensors" in err and "not a regular file" in err
    assert leftovers(tmp_path, "out") == []


@pytest.mark.parametrize(
    ("weight_map", "needle"),
    [({EXPERT: ["model.safetensors"]}, "maps"), ({EXPERT: 3}, "maps"), ({EXPERT: "../elsewhere.safetensors"}, "maps")],
)
def test_index_weight_map_values_must_be_shard_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], weight_map: dict, needle: str
) -> None:
    src = source(tmp_path / "src", expert())
    (src / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    for argv in (("convert", "fp8", src, tmp_path / "out"), ("inspect", src)):
        code, _, err = cli(capsys, *argv)
        assert code == 2 and "model.safetensors.index.json" in err and needle in err, err
    assert leftovers(tmp_path, "out") == []


def test_source_quantization_config_that_is_a_string(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = source(tmp_path / "src", expert(), {"quantization_config": "fp8"})
    code, _, err = cli(capsys, "convert", "fp8", src, tmp_path / "out")
    assert code == 2 and "already has a quantization_config" in err and "'fp8'" in err


# ---- zero-size tensors and non-finite weights ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fp8", "int4"])
def test_zero_size_tensors_are_copied_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    empty = {
        "model.layers.0.mlp.experts.1.down_proj.weight": torch.empty(128, 0, dtype=torch.bfloat16),
        "model.layers.0.mlp.experts.2.down_proj.weight": torch.empty(0, 128, dtype=torch.bfloat16),
    }
    src = source(tmp_path / "src", expert() | empty)
    dst = tmp_path / "out"
    args = ("--group-size", "32") if mode == "int4" else ()
    assert cli(capsys, "convert", mode, src, dst, *args, "--device", "cpu", "--quiet")[0] == 0
    with safe_open(str(dst / "model.safetensors"), framework="pt") as f:
        for name, t in empty.items():
            assert f.get_tensor(name).shape == t.shape and f.get_tensor(name).dtype == t.dtype
    code, out, err = cli(capsys, "verify", dst, "--source", src)
    assert code == 0 and "OK" in out, err


def test_nonfinite_weight_is_refused_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tensors = expert()
    tensors[EXPERT][3, 7] = math.nan
    tensors[EXPERT][5, 1] = math.inf
    src = source(tmp_path / "src", tensors)
    for mode, args in (("fp8", ()), ("int4", ("--group-size", "32"))):
        code, _, err = cli(capsys, "convert", mode, src, tmp_path / "out", *args, "--device", "cpu")
        assert code == 2 and EXPERT in err and "NaN or Inf" in err and "--allow-nonfinite" in err
        assert leftovers(tmp_path, "out") == []
    code, _, _ = cli(capsys, "convert", "fp8", src, tmp_path / "out", "--allow-nonfinite", "--quiet")
    assert code == 0 and (tmp_path / "out" / "conversion.json").exists()


# ---- parameter bounds -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("block", [(16384, 16384), (100000, 100000), (0, 0), (96, 128), (256, 256), (True, 128)])
def test_fp8_block_size_is_bounded(block: tuple[int, int]) -> None:
    with pytest.raises(UserError) as e:
        Fp8Params(block)
    assert "--block-size" in e.value.render() and "16, 32, 64, 128" in e.value.render()


def test_block_size_out_of_bounds_exits_2_before_work(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = cli(capsys, "convert", "fp8", checkpoints["qwen3"], tmp_path / "out", "--block-size", "512", "512")
    assert code == 2 and "--block-size" in err
    assert leftovers(tmp_path, "out") == []


@pytest.mark.parametrize("workers", ["100000", "65"])
def test_workers_are_bounded(
    checkpoints: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], workers: str
) -> None:
    code, _, err = cli(capsys, "convert", "fp8", checkpoints["qwen3"], tmp_path / "out", "--workers", workers)
    assert code == 2 and "--workers" in err and "1..64" in err
    assert leftovers(tmp_path, "out") == []


def test_dst_dot_is_the_current_directory(checkpoints: dict[str, Path], tmp_path: Path, capsys, monkeypatch) -> None:
    """`.` names the directory it is: its lock and staging go beside it, not inside it."""
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    code, _, err = cli(capsys, "convert", "fp8", checkpoints["qwen3"], ".", "--force", "--quiet")
    assert code == 0, err
    assert (tmp_path / "here" / "conversion.json").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["here"]


@pytest.mark.parametrize("group", [8, 16, 96, 256, 1024])
def test_int4_group_size_is_bounded(group: int) -> None:
    with pytest.raises(UserError) as e:
        Int4Params(group)
    assert "32, 64, 128" in e.value.render()


# ---- conversion.json: husks, poison, partial copies -------------------------------------------------------------


@pytest.fixture(scope="module")
def fp8_done(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("done") / "fp8"
    convert_checkpoint(checkpoints["qwen3"], dst, Fp8Params(), device="cpu", progress=False)
    return dst


def test_a_husk_with_only_conversion_json_is_not_done(
    checkpoints: dict[str, Path], fp8_done: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    husk = tmp_path / "husk"
    husk.mkdir()
    shutil.copy(fp8_done / "conversion.json", husk)
    assert not conversion_matches(husk, checkpoints["qwen3"], "fp8", {"block_size": [128, 128]})
    code, out, err = cli(capsys, "convert", "fp8", checkpoints["qwen3"], husk)
    assert code == 2 and "nothing to do" not in out
    assert "partial or hand-made" in err and "missing" in err and "--force" in err
    assert sorted(p.name for p in husk.iterdir()) == ["conversion.json"]


@pytest.mark.parametrize("damage", ["truncate", "rewrite", "extra", "remove"])
def test_manifest_catches_a_damaged_copy(
    checkpoints: dict[str, Path], fp8_done: Path, tmp_path: Path, damage: str
) -> None:
    src, dst = checkpoints["qwen3"], tmp_path / "copy"
    shutil.copytree(fp8_done, dst)
    assert conversion_matches(dst, src, "fp8", {"block_size": [128, 128]})  # a copy is still the conversion
    shard = sorted(dst.glob("*.safetensors"))[0]
    if damage == "truncate":
        shard.write_bytes(shard.read_bytes()[:-1024])
    elif damage == "rewrite":  # same size, other bytes at the start of the data
        data = bytearray(shard.read_bytes())
        n = 8 + int.from_bytes(data[:8], "little")
        data[n : n + 64] = bytes(64)
        shard.write_bytes(bytes(data))
    elif damage == "extra":
        (dst / "stray.bin").write_bytes(b"x")
    else:
        shard.unlink()
    assert not conversion_matches(dst, src, "fp8", {"block_size": [128, 128]})


POISON = {
    "source a string": {"source": "/somewhere"},
    "parameters a list": {"parameters": [128, 128]},
    "files a string": {"files": "all"},
    "not an object": None,
}


@pytest.mark.parametrize("poison", list(POISON))
def test_poisoned_conversion_json(
    checkpoints: dict[str, Path], fp8_done: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], poison: str
) -> None:
    dst = tmp_path / "dst"
    shutil.copytree(fp8_done, dst)
    rec = json.loads((dst / "conversion.json").read_text())
    rec = [1, 2] if POISON[poison] is None else rec | POISON[poison]
    (dst / "conversion.json").write_text(json.dumps(rec))
    assert not conversion_matches(dst, checkpoints["qwen3"], "fp8", {"block_size": [128, 128]})
    code, _, err = cli(capsys, "convert", "fp8", checkpoints["qwen3"], dst)
    assert code == 2 and "conversion.json is not a valid record" in err
    code, out, _ = cli(capsys, "inspect", dst)
    assert code == 0 and "converted by" not in out


def test_launch_dry_run_with_a_poisoned_or_husk_conversion_json(tmp_path: Path, capsys) -> None:
    from recipe_runner.api import plan
    from recipe_runner.models import BUNDLED_CONFIGS
    from tests.launch.conftest import write_recipes
    from tests.quant import tiny_models as t

    recipes = write_recipes(tmp_path)
    t.make_checkpoint(tmp_path / "hf", "qwen3_moe", shards=1)  # as tests/launch/test_offline.py: checks pass
    tiny = {**json.loads((BUNDLED_CONFIGS / "qwen3-30b-a3b.json").read_text()), "hidden_size": t.HIDDEN,
            "num_hidden_layers": t.LAYERS, "num_attention_heads": t.HEADS, "num_key_value_heads": t.KV_HEADS,
            "head_dim": t.HEAD_DIM, "vocab_size": t.VOCAB, "num_experts": t.EXPERTS, "num_experts_per_tok": 2,
            "moe_intermediate_size": 128, "intermediate_size": 384}
    (tmp_path / "hf" / "config.json").write_text(json.dumps(tiny))
    INT4 = ["precision=int4-rollout", f"model.config={tmp_path}/hf"]
    dst = Path(plan("tiny-launch", INT4, str(recipes)).rollout_checkpoint)
    dst.mkdir(parents=True)
    files = {"model.safetensors": {"size": 1, "sample_sha256": "z"}}
    husk = {"format_version": 1, "mode": "int4", "parameters": {"group_size": 128},
            "source": {"path": "x", "fingerprint": "y"}, "files": files}
    for rec in ({"format_version": 1, "mode": "int4", "source": "x", "parameters": [1]}, husk):
        (dst / "conversion.json").write_text(json.dumps(rec))
        code, out, err = cli(capsys, "launch", "tiny-launch", *INT4, "--recipes-dir", recipes, "--dry-run")
        assert code == 0 and "skip:" not in out and " -> " in out, err


# ---- verify / inspect read the config with the converter's rules -------------------------------------------------


@pytest.fixture(scope="module")
def int4_done(checkpoints: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("done") / "int4"
    convert_checkpoint(checkpoints["qwen3_moe"], dst, Int4Params(32), device="cpu", progress=False)
    return dst


def _edit_config(src: Path, dst: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    shutil.copytree(src, dst)
    config = json.loads((dst / "config.json").read_text())
    edit(config)
    (dst / "config.json").write_text(json.dumps(config))
    return dst


def _set(path: str, value: object):  # type: ignore[no-untyped-def]
    def edit(config: dict) -> None:
        *parents, last = ["quantization_config", *path.split(".")] if path else ["quantization_config"]
        node = config
        for key in parents:
            node = node[key]
        node[last] = value

    return edit


CONFIG_CASES = [
    ("fp8", "", "fp8", "quantization_config"),
    ("fp8", "", ["fp8"], "quantization_config"),
    ("int4", "", "compressed", "quantization_config"),
    ("fp8", "weight_block_size", [0, 0], "weight_block_size"),
    ("fp8", "weight_block_size", 128, "weight_block_size"),
    ("fp8", "weight_block_size", ["128", "128"], "weight_block_size"),
    ("fp8", "modules_to_not_convert", 5, "modules_to_not_convert"),
    ("fp8", "quant_method", 7, "quant_method"),
    ("int4", "config_groups.group_0.weights.group_size", 0, "group_size"),
    ("int4", "config_groups.group_0.weights.group_size", "x", "group_size"),
    ("int4", "ignore", "re:.*norm.*", "ignore"),
    ("int4", "ignore", ["re:(["], "regular expression"),
    ("int4", "config_groups", ["group_0"], "config_groups"),
]


@pytest.mark.parametrize(("mode", "path", "value", "needle"), CONFIG_CASES)
def test_verify_and_inspect_reject_malformed_quantization_config(
    fp8_done: Path,
    int4_done: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mode: str,
    path: str,
    value: object,
    needle: str,
) -> None:
    ckpt = _edit_config(fp8_done if mode == "fp8" else int4_done, tmp_path / "ckpt", _set(path, value))
    for command in ("verify", "inspect"):
        code, _, err = cli(capsys, command, ckpt)
        assert code == 2 and "config.json" in err and needle in err, (command, err)


def test_verify_and_inspect_reject_index_metadata_that_is_a_list(
    int4_done: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt = tmp_path / "ckpt"
    shutil.copytree(int4_done, ckpt)
    index = json.loads((ckpt / "model.safetensors.index.json").read_text())
    index["metadata"] = [1]
    (ckpt / "model.safetensors.index.json").write_text(json.dumps(index))
    for command in ("verify", "inspect"):
        code, _, err = cli(capsys, command, ckpt)
        assert code == 2 and "metadata" in err, err


def test_verify_against_a_source_of_other_shapes(
    int4_done: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = source(tmp_path / "other", {
        "model.layers.0.mlp.experts.0.down_proj.weight": torch.randn(8, 32).bfloat16(),
        "model.norm.weight": torch.ones(3, dtype=torch.bfloat16),
    })
    code, out, err = cli(capsys, "verify", int4_done, "--source", other)
    assert code == 1 and "FAILED" in out and "in the source" in err


def test_verify_hand_made_zero_size_and_wrong_rank_quantized_tensors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tensors our converter never writes but a hand-made checkpoint may hold: a report, not a traceback."""
    fp8_dir, int4_dir = tmp_path / "fp8", tmp_path / "int4"
    source(fp8_dir, {
        "model.layers.0.mlp.down_proj.weight": torch.empty(0, 128, dtype=torch.float8_e4m3fn),
        "model.layers.0.mlp.down_proj.weight_scale_inv": torch.empty(0, 1),
    }, {"quantization_config": Fp8Params().quantization_config([])})
    source(int4_dir, {
        "model.layers.0.mlp.experts.0.down_proj.weight_packed": torch.empty(0, 16, dtype=torch.int32),
        "model.layers.0.mlp.experts.0.down_proj.weight_scale": torch.empty(0, 4, dtype=torch.bfloat16),
        "model.layers.0.mlp.experts.0.down_proj.weight_shape": torch.tensor([0, 128]),
        "model.layers.0.mlp.experts.1.down_proj.weight_packed": torch.zeros(16, dtype=torch.int32),
    }, {"quantization_config": Int4Params(32).quantization_config()})
    code, out, err = cli(capsys, "verify", fp8_dir)
    assert code == 1 and "index.json: missing" in err
    code, out, err = cli(capsys, "verify", int4_dir)
    assert code == 1 and "experts.1.down_proj.weight_packed: [16], expected a 2-D" in err


def test_verify_reports_a_config_compressed_tensors_cannot_read(
    int4_done: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A field our reader does not use but the consumer validates: a failed verification, not a traceback."""
    ckpt = _edit_config(int4_done, tmp_path / "ckpt", _set("kv_cache_scheme", "x"))
    code, out, err = cli(capsys, "verify", ckpt)
    assert code == 1 and "compressed-tensors cannot read" in err and "kv_cache_scheme" in err
