"""Quantized checkpoints for the `convert bf16` tests, built with torch and safetensors alone (the GPU
machine that runs tests/quant/test_cuda.py has no compressed-tensors): tricky FP8-block and INT4
pack-quantized sources with real tensor names, and their quantization_configs."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

FP8_QC = {"quant_method": "fp8", "fmt": "e4m3", "activation_scheme": "dynamic", "weight_block_size": [128, 128],
          "modules_to_not_convert": ["lm_head", "model.layers.0.mlp.gate"]}  # fmt: skip
E = "model.layers.0.mlp.experts"
_G = torch.Generator().manual_seed(7)
KEPT = {  # high-precision tensors every tricky source carries: copied byte for byte
    "lm_head.weight": torch.randn(64, 96, generator=_G).bfloat16(),
    "model.layers.0.mlp.gate.weight": torch.randn(4, 96, generator=_G).bfloat16(),
    "model.layers.0.mlp.gate.e_score_correction_bias": torch.randn(4, generator=_G),
    "model.norm.weight": torch.ones(96, dtype=torch.float16),
}


def int4_qc(group: int) -> dict:
    weights = {"actorder": None, "block_structure": None, "dynamic": False, "group_size": group, "num_bits": 4,
               "observer": "minmax", "observer_kwargs": {}, "strategy": "group", "symmetric": True, "type": "int"}
    return {"config_groups": {"group_0": {"input_activations": None, "output_activations": None,
                                          "targets": ["Linear"], "weights": weights}},
            "format": "pack-quantized", "kv_cache_scheme": None, "quant_method": "compressed-tensors",
            "ignore": ["lm_head", "re:.*self_attn.*", "re:.*shared_experts.*", r"re:.*mlp\.gate\..*"],
            "quantization_status": "compressed"}  # fmt: skip


def write(root: Path, shards: list[dict[str, torch.Tensor]], config: dict) -> Path:
    """A sharded checkpoint with an index, config.json and a tokenizer file."""
    root.mkdir(parents=True)
    weight_map = {}
    for i, tensors in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(tensors, str(root / name), metadata={"format": "pt"})
        weight_map |= dict.fromkeys(tensors, name)
    (root / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (root / "config.json").write_text(json.dumps(config))
    (root / "tokenizer.json").write_text("{}")
    return root


def tensors(root: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for p in sorted(root.glob("*.safetensors")):
        out |= load_file(str(p))
    return out


def pack_int4(codes: torch.Tensor) -> torch.Tensor:
    """int8 codes in [-8, 7] `[N, K]` -> int32 `[N, K/8]`, nibble i of word j = code 8j+i + 8 (compressed-tensors'
    `pack_to_int32` layout; test_bf16 checks they agree)."""
    u = (codes.to(torch.int16) + 8).to(torch.uint8).view(codes.shape[0], -1, 2)
    return (u[..., 0] | (u[..., 1] << 4)).contiguous().view(torch.int32)


def fp8_weight(n: int, k: int, g: torch.Generator) -> torch.Tensor:
    """Every e4m3 code but NaN (0x7F, 0xFF), uniformly: subnormals, zeros of both signs, +-448."""
    q = torch.randint(0, 256, (n, k), generator=g, dtype=torch.uint8)
    q[(q & 0x7F) == 0x7F] = 0x80
    return q.view(torch.float8_e4m3fn)


def fp8_scales(n: int, k: int, g: torch.Generator) -> torch.Tensor:
    """Ordinary scales, with the extremes spread over the tiles: 0, products in float32 subnormals, huge."""
    s = torch.rand(-(-n // 128), -(-k // 128), generator=g) * 1e-3
    flat = s.view(-1)
    for i, v in enumerate((0.0, 1e-36, 2.0**-140, 1e30, 3.0)):
        if i < flat.numel():
            flat[-1 - i] = v
    return s


FP8_SHAPES = {f"{E}.0.gate_proj.weight": (300, 200), f"{E}.0.up_proj.weight": (257, 384),
              f"{E}.0.down_proj.weight": (96, 129), "model.layers.0.self_attn.o_proj.weight": (1, 1),
              "model.layers.0.self_attn.q_proj.weight": (128, 128)}  # fmt: skip


def make_fp8_source(root: Path) -> Path:
    """Partial tiles in both dims, a one-element weight, MoE experts, a zero tile, extreme scales, BF16 and
    float32 scales, and a scale stored in another shard than its weight."""
    g = torch.Generator().manual_seed(0)
    a: dict[str, torch.Tensor] = dict(KEPT)
    b: dict[str, torch.Tensor] = {}
    for i, (name, (n, k)) in enumerate(FP8_SHAPES.items()):
        q, s = fp8_weight(n, k, g), fp8_scales(n, k, g)
        if i == 1:
            q.view(torch.uint8)[:128, :128] = 0  # an all-zero tile with a non-zero scale
            s = s.bfloat16()
        (a if i % 2 else b)[name] = q
        (a if i % 2 or i == 0 else b)[name + "_scale_inv"] = s  # weight 0's scale sits in the other shard
    return write(root, [a, b], {"model_type": "x", "quantization_config": FP8_QC})


def int4_parts(n: int, k: int, group: int, g: torch.Generator, scale_dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Every code in [-8, 7] (compressed-tensors' own quantizer emits -8), extreme scales."""
    codes = torch.randint(-8, 8, (n, k), generator=g, dtype=torch.int8)
    scale = torch.rand(n, k // group, generator=g) * 1e-2
    flat = scale.view(-1)
    extremes = (0.0, 1e-40, 1e37) if scale_dtype != torch.float16 else (0.0, 6e-8, 6e4)
    for i, v in enumerate(extremes):
        flat[-1 - i] = v
    return {"weight_packed": pack_int4(codes), "weight_scale": scale.to(scale_dtype),
            "weight_shape": torch.tensor([n, k])}  # fmt: skip


def int4_source(root: Path, group: int, scale_dtype: torch.dtype, shape_dtype: torch.dtype = torch.int64) -> Path:
    """Four experts (one row; K = G; several groups), the last with its scale and shape in the other shard."""
    g = torch.Generator().manual_seed(group)
    shards: list[dict[str, torch.Tensor]] = [dict(KEPT), {}]
    for i, (n, k) in enumerate([(5, group), (1, 3 * group), (64, 256), (33, 2 * group)]):
        base = f"{E}.{i}.{('gate_proj', 'up_proj', 'down_proj', 'gate_proj')[i]}"
        for suffix, t in int4_parts(n, k, group, g, scale_dtype).items():
            shard = (i + (i == 3 and suffix != "weight_packed")) % 2
            shards[shard][f"{base}.{suffix}"] = t.to(shape_dtype) if suffix == "weight_shape" else t
    shards[0]["model.layers.0.self_attn.o_proj.weight"] = torch.randn(96, 96, generator=g).bfloat16()  # ignored: BF16
    return write(root, shards, {"model_type": "kimi_k2", "quantization_config": int4_qc(group)})
