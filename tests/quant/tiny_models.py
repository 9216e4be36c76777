"""Tiny random checkpoints with the real tensor names and layouts of Qwen3, Qwen3-MoE, DeepSeek-V3 and Moonlight.

Dimensions are small but keep the structure that matters to the converter: sharding with an index,
routers, shared experts, MLA projections whose sizes are not multiples of 128 (partial FP8 tiles).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, VOCAB, LAYERS, EXPERTS = 256, 4, 2, 64, 512, 2, 4


def _attention_gqa(p: str) -> dict[str, tuple[int, ...]]:
    return {
        f"{p}.self_attn.q_proj.weight": (HEADS * HEAD_DIM, HIDDEN),
        f"{p}.self_attn.k_proj.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
        f"{p}.self_attn.v_proj.weight": (KV_HEADS * HEAD_DIM, HIDDEN),
        f"{p}.self_attn.o_proj.weight": (HIDDEN, HEADS * HEAD_DIM),
        f"{p}.self_attn.q_norm.weight": (HEAD_DIM,),
        f"{p}.self_attn.k_norm.weight": (HEAD_DIM,),
    }


def _attention_mla(p: str, q_lora: int | None) -> dict[str, tuple[int, ...]]:
    nope, rope, v, kv_lora = 64, 32, 64, 128  # kv_a_proj_with_mqa: 160 rows, a partial 128-tile
    q = (
        {f"{p}.self_attn.q_proj.weight": (HEADS * (nope + rope), HIDDEN)}
        if q_lora is None
        else {
            f"{p}.self_attn.q_a_proj.weight": (q_lora, HIDDEN),
            f"{p}.self_attn.q_a_layernorm.weight": (q_lora,),
            f"{p}.self_attn.q_b_proj.weight": (HEADS * (nope + rope), q_lora),
        }
    )
    return q | {
        f"{p}.self_attn.kv_a_proj_with_mqa.weight": (kv_lora + rope, HIDDEN),
        f"{p}.self_attn.kv_a_layernorm.weight": (kv_lora,),
        f"{p}.self_attn.kv_b_proj.weight": (HEADS * (nope + v), kv_lora),
        f"{p}.self_attn.o_proj.weight": (HIDDEN, HEADS * v),
    }


def _mlp(p: str, inter: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{p}.gate_proj.weight": (inter, HIDDEN),
        f"{p}.up_proj.weight": (inter, HIDDEN),
        f"{p}.down_proj.weight": (HIDDEN, inter),
    }


def _moe(p: str, inter: int, shared: int, bias: bool) -> dict[str, tuple[int, ...]]:
    out = {f"{p}.mlp.gate.weight": (EXPERTS, HIDDEN)}
    if bias:
        out[f"{p}.mlp.gate.e_score_correction_bias"] = (EXPERTS,)
    for e in range(EXPERTS):
        out |= _mlp(f"{p}.mlp.experts.{e}", inter)
    if shared:
        out |= _mlp(f"{p}.mlp.shared_experts", shared)
    return out


def layout(family: str) -> tuple[dict[str, tuple[int, ...]], dict]:
    """Tensor shapes and config.json of a tiny model of `family`."""
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    for i in range(LAYERS):
        p = f"model.layers.{i}"
        shapes |= {
            f"{p}.input_layernorm.weight": (HIDDEN,),
            f"{p}.post_attention_layernorm.weight": (HIDDEN,),
        }
        if family == "qwen3":
            shapes |= _attention_gqa(p) | _mlp(f"{p}.mlp", 384)
        elif family == "qwen3_moe":
            shapes |= _attention_gqa(p) | _moe(p, 128, 0, bias=False)
        else:  # deepseek_v3 (q_lora) or moonlight (no q_lora); layer 0 dense (first_k_dense_replace=1)
            shapes |= _attention_mla(p, 96 if family == "deepseek_v3" else None)
            shapes |= _mlp(f"{p}.mlp", 512) if i == 0 else _moe(p, 128, 128, bias=True)
    shapes |= {"model.norm.weight": (HIDDEN,), "lm_head.weight": (VOCAB, HIDDEN)}
    model_type = {"qwen3": "qwen3", "qwen3_moe": "qwen3_moe"}.get(family, "deepseek_v3")
    config = {
        "architectures": ["X"],
        "model_type": model_type,
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "vocab_size": VOCAB,
        "torch_dtype": "bfloat16",
    }
    return shapes, config


def make_checkpoint(
    root: Path, family: str, shards: int = 3, dtype: torch.dtype = torch.bfloat16, seed: int = 0
) -> Path:
    """Write a random checkpoint of `family` in `shards` safetensors files with an index and a tokenizer."""
    shapes, config = layout(family)
    gen = torch.Generator().manual_seed(seed)
    tensors = {n: (torch.randn(s, generator=gen) * 0.02).to(dtype) for n, s in shapes.items()}
    root.mkdir(parents=True)
    names = list(tensors)
    weight_map, total = {}, 0
    for i in range(shards):
        part = names[i * len(names) // shards : (i + 1) * len(names) // shards]
        fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({n: tensors[n] for n in part}, str(root / fname), metadata={"format": "pt"})
        for n in part:
            weight_map[n] = fname
            total += tensors[n].numel() * tensors[n].element_size()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (root / "model.safetensors.index.json").write_text(json.dumps(index))
    (root / "config.json").write_text(json.dumps(config))
    (root / "tokenizer.json").write_text('{"version": "1.0"}')
    (root / "generation_config.json").write_text("{}")
    return root
