"""Tiny fake checkpoints: config.json, model.safetensors.index.json and small safetensors headers."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from recipe_runner.models import load_config
from recipe_runner.torch_dist_job import MANIFEST

KIMI_INT4 = {  # the native-INT4 block of Kimi-K2.5 (shared/model-configs/SOURCES.md), group and symmetry vary
    "config_groups": {"group_0": {"targets": ["Linear"], "weights": {
        "group_size": 128, "num_bits": 4, "strategy": "group", "symmetric": True, "type": "int"}}},
    "format": "pack-quantized",
    "ignore": ["lm_head", "re:.*self_attn.*", "re:.*shared_experts.*", "re:.*mlp\\.gate\\..*",
               "re:.*embed_tokens.*"],
    "quant_method": "compressed-tensors",
}
FP8 = {"quant_method": "fp8", "activation_scheme": "dynamic", "fmt": "e4m3", "weight_block_size": [128, 128]}


def moe_names(packed: bool) -> list[str]:
    """Weight names of a two-layer Qwen3-MoE-like model with two experts."""
    names = ["model.embed_tokens.weight", "lm_head.weight", "model.norm.weight"]
    for i in range(2):
        p = f"model.layers.{i}"
        names += [f"{p}.input_layernorm.weight", f"{p}.mlp.gate.weight"]
        names += [f"{p}.self_attn.{x}_proj.weight" for x in "qkvo"]
        for e in range(2):
            for x in ("gate", "up", "down"):
                base = f"{p}.mlp.experts.{e}.{x}_proj"
                names += [f"{base}.weight_packed", f"{base}.weight_scale", f"{base}.weight_shape"] if packed else [
                    f"{base}.weight"]
    return names


def write_checkpoint(root: Path, model: str, quantization: dict | None = None, names: list[str] | None = None,
                     **config_changes: object) -> Path:
    """A checkpoint dir whose config.json is the bundled `model` config, changed as asked."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = {**load_config(model), **config_changes}
    if quantization is not None:
        cfg["quantization_config"] = quantization
    (root / "config.json").write_text(json.dumps(cfg))
    names = names if names is not None else moe_names(packed=quantization is not None)
    shard = "model-00001-of-00001.safetensors"
    (root / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {"total_size": 0}, "weight_map": {n: shard for n in names}}))
    write_safetensors_header(root / shard, names)
    return root


def write_safetensors_header(path: Path, names: list[str]) -> None:
    header = json.dumps({n: {"dtype": "BF16", "shape": [1], "data_offsets": [2 * i, 2 * i + 2]}
                         for i, n in enumerate(names)}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * (2 * len(names)))


def write_torch_dist(root: Path, model_args: list[str] | None = None, hf: str = "") -> Path:
    """Megatron's tracker; with `model_args`, also the torch-dist step's record of what it converted."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "latest_checkpointed_iteration.txt").write_text("release")
    if model_args is not None:
        (root / MANIFEST).write_text(json.dumps({"tool": "recipe-runner", "hf": hf, "model_args": model_args}))
    return root
