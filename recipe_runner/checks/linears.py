"""The linear layers of a model by Hugging Face name, from config.json alone (no checkpoint needed).

The shape rules ask for each rollout shard; the precision rules ask which weights a conversion would
quantize, through the converter's own name rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from recipe_runner.models import ModelShape


@dataclass(frozen=True)
class Linear:
    name: str
    out_features: int  # per shard
    in_features: int  # per shard
    routed_expert: bool = False


def rollout_shards(s: ModelShape, tp: int, expert_parallel: bool) -> list[Linear]:
    """Per-GPU shapes of the linears of one rollout engine with SGLang TP `tp`.

    Column-parallel layers split out-features, row-parallel ones in-features. KV heads are replicated
    when TP exceeds their count. With SGLang EP the routed experts are whole on their GPU.
    """
    shards: list[Linear] = []
    if s.mla:
        q_out = s.heads * (s.qk_nope_head_dim + s.qk_rope_head_dim) // tp
        shards += [Linear("self_attn.q_b_proj" if s.q_lora_rank else "self_attn.q_proj", q_out,
                          s.q_lora_rank or s.hidden),
                   Linear("self_attn.kv_b_proj", s.heads * (s.qk_nope_head_dim + s.v_head_dim) // tp,
                          s.kv_lora_rank or 0),
                   Linear("self_attn.o_proj", s.hidden, s.heads * s.v_head_dim // tp)]
    else:
        kv = max(1, s.kv_heads // tp) * s.head_dim
        shards += [Linear("self_attn.q_proj", s.heads * s.head_dim // tp, s.hidden),
                   Linear("self_attn.k_proj", kv, s.hidden), Linear("self_attn.v_proj", kv, s.hidden),
                   Linear("self_attn.o_proj", s.hidden, s.heads * s.head_dim // tp)]
    if not all(s.moe_layers) or not s.is_moe:
        shards += _mlp("mlp", s.ffn // tp, s.hidden)
    if s.shared_ffn:
        shards += _mlp("mlp.shared_experts", s.shared_ffn // tp, s.hidden)
    if s.is_moe:
        inter = s.moe_ffn if expert_parallel else s.moe_ffn // tp
        shards += _mlp("mlp.experts.N", inter, s.hidden, routed=True)
    return shards


def _mlp(prefix: str, inter: int, hidden: int, routed: bool = False) -> list[Linear]:
    return [Linear(f"{prefix}.gate_proj", inter, hidden, routed), Linear(f"{prefix}.up_proj", inter, hidden, routed),
            Linear(f"{prefix}.down_proj", hidden, inter, routed)]


def hf_weights(s: ModelShape) -> list[tuple[str, tuple[int, ...]]]:
    """(HF name, shape) of the embedding, the head and one decoder layer's weights, incl. norms and router.

    Enough to answer "would a conversion quantize anything": the converter's rules look at the name and
    rank only, and every decoder layer repeats these names.
    """
    layer = "model.layers.0."
    weights = [("model.embed_tokens.weight", (s.vocab, s.hidden)), ("lm_head.weight", (s.vocab, s.hidden)),
               ("model.norm.weight", (s.hidden,)), (layer + "input_layernorm.weight", (s.hidden,))]
    weights += [(layer + lin.name.replace(".N.", ".0.") + ".weight", (lin.out_features, lin.in_features))
                for lin in rollout_shards(s, 1, expert_parallel=False)]
    if s.q_lora_rank:  # MLA down-projections, replicated on every rollout GPU
        weights.append((layer + "self_attn.q_a_proj.weight", (s.q_lora_rank, s.hidden)))
    if s.mla:
        weights.append((layer + "self_attn.kv_a_proj_with_mqa.weight", (s.kv_lora_rank + s.qk_rope_head_dim,
                                                                        s.hidden)))
    if s.is_moe:
        weights.append((layer + "mlp.gate.weight", (s.experts, s.hidden)))
    return weights
