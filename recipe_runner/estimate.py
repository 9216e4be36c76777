"""Per-GPU memory of a recipe, for training and for rollout, from config.json and the layout. Pure arithmetic.

Training (Megatron, distributed optimizer, as slime runs it):
  weights      2 B/param (BF16)
  grads        4 B/param (FP32 grad buffers: slime passes --accumulate-allreduce-grads-in-fp32)
  optimizer    12 B/param (FP32 main param + Adam m and v), sharded over data parallel; on the host with
               --optimizer-cpu-offload (the precision-aware optimizer keeps them in FP32 there)
  activations  per layer 34*t*h/TP bytes for the layer being computed (Korthikanti et al. 2022, flash attention
               drops the 5*a*s term); with full recompute only 2*t*h/TP per layer is kept (the layer input)
  logits       t*vocab/TP * 4 B * 2 (FP32 logits and their gradient; the `vocab_parallel_softmax` OOM of
               skypilot-org/skypilot#10269)
  Dense parameters are split over TP*PP, routed experts over EP*ETP*PP; with PP > 1 the stage holding the
  embedding (or lm_head) carries it whole (/TP).
Rollout (SGLang, one engine = TP GPUs, routed experts over EP when set):
  weights      in the rollout precision: FP8 block 1 B + a 4 B scale per 128x128 block on every linear but
               the router; INT4 0.5 B + a 2 B scale per group on routed experts; everything else BF16
  static pool  mem_fraction_static * HBM holds the weights and the KV cache
  KV per token 2 (K,V) * layers * max(1, kv_heads/TP) * head_dim * 2 B; MLA: layers * (kv_lora + rope) * 2 B
               (the latent is replicated on every TP rank)
  sequences    KV tokens // rollout.max_response_len (prompt tokens are not counted: a lower bound of need)
Checked against published checkpoint sizes (shared/model-configs/SOURCES.md) in tests/checks/test_estimate.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from recipe_runner.hardware import GPUS
from recipe_runner.layout import layout
from recipe_runner.models import ModelShape
from recipe_runner.precision import FP8_BLOCK, mode
from recipe_runner.resolve import resolve
from recipe_runner.spec import Recipe

GB = 1e9  # the hardware table is in marketed (decimal) GB


@dataclass(frozen=True)
class Params:
    """Parameter counts by how they are sharded and which rollout formats quantize them."""

    embed: int  # embed_tokens
    lm_head: int  # 0 when tied to the embedding
    linears: int  # attention, dense MLP and shared-expert linears: FP8-quantized, INT4-ignored
    experts: int  # routed experts: the only INT4-quantized weights
    small: int  # norms and routers: always BF16

    @property
    def total(self) -> int:
        return self.embed + self.lm_head + self.linears + self.experts + self.small

    @property
    def dense(self) -> int:
        return self.total - self.experts


def params(s: ModelShape) -> Params:
    """Parameters of the HF checkpoint, layer by layer (the same count as its safetensors index)."""
    attn, norms = _attention(s)
    moe_layers = sum(s.moe_layers) if s.is_moe else 0
    dense_layers = s.layers - moe_layers
    mlp = 3 * s.hidden * s.ffn * dense_layers + 3 * s.hidden * s.shared_ffn * moe_layers
    experts = 3 * s.hidden * s.moe_ffn * s.experts * moe_layers
    router = s.hidden * s.experts * moe_layers
    embed = s.vocab * s.hidden
    linear = sum(s.linear_layers)
    lin_attn, lin_norms = _linear_attention(s) if linear else (0, 0)
    full = s.layers - linear
    return Params(embed=embed, lm_head=0 if s.tied_embeddings else embed,
                  linears=attn * full + lin_attn * linear + mlp, experts=experts,
                  small=norms * full + lin_norms * linear + 2 * s.hidden * s.layers + s.hidden + router)


def _attention(s: ModelShape) -> tuple[int, int]:
    """(linear params, norm params) of one attention block."""
    if s.mla:
        qk = s.qk_nope_head_dim + s.qk_rope_head_dim
        q = s.hidden * s.q_lora_rank + s.q_lora_rank * s.heads * qk if s.q_lora_rank else s.hidden * s.heads * qk
        kv = s.hidden * (s.kv_lora_rank + s.qk_rope_head_dim) + s.kv_lora_rank * s.heads * (
            s.qk_nope_head_dim + s.v_head_dim)
        return q + kv + s.heads * s.v_head_dim * s.hidden, (s.q_lora_rank or 0) + s.kv_lora_rank
    q_out, kv_out = s.heads * s.head_dim, s.kv_heads * s.head_dim
    qk_norm = 2 * s.head_dim if s.model_type.startswith("qwen3") else 0
    gate = q_out if any(s.linear_layers) else 0  # hybrid models gate full attention's output (q_proj is 2x)
    return s.hidden * (q_out + gate + 2 * kv_out) + q_out * s.hidden, qk_norm


def _linear_attention(s: ModelShape) -> tuple[int, int]:
    """(linear params, small params) of one gated-DeltaNet block (HF Qwen3NextGatedDeltaNet): in_proj_qkvz,
    in_proj_ba, out_proj; the depthwise conv1d, A_log, dt_bias and the gated norm are small."""
    c = s.config
    key = c["linear_num_key_heads"] * c["linear_key_head_dim"]
    value_heads = c["linear_num_value_heads"]
    value = value_heads * c["linear_value_head_dim"]
    linears = s.hidden * (2 * key + 2 * value) + s.hidden * 2 * value_heads + value * s.hidden
    return linears, (2 * key + value) * c["linear_conv_kernel_dim"] + 2 * value_heads + c["linear_value_head_dim"]


@dataclass(frozen=True)
class TrainMemory:
    weights: float  # bytes per GPU
    grads: float
    optimizer: float
    host_optimizer: float  # bytes per GPU kept in host RAM by CPU offload
    activations: float
    logits: float

    @property
    def states(self) -> float:
        return self.weights + self.grads + self.optimizer

    @property
    def total(self) -> float:
        return self.states + self.activations + self.logits


@dataclass(frozen=True)
class RolloutMemory:
    weights: float  # bytes per GPU
    static_pool: float  # mem_fraction_static * HBM
    kv_bytes_per_token: float  # per GPU
    kv_tokens: int  # per engine (every GPU of the engine holds its share of each token)
    sequences: int  # concurrent sequences of max_response_len that fit one engine
    needed: int  # sequences of one rollout batch per engine

    @property
    def kv_budget(self) -> float:
        return self.static_pool - self.weights


@dataclass(frozen=True)
class Estimate:
    recipe: str
    mode: str
    gpu: str
    hbm: float  # bytes
    params: Params
    train: TrainMemory
    rollout: RolloutMemory


def estimate(r: Recipe, s: ModelShape) -> Estimate:
    gpu = GPUS[r.cluster.gpu]
    p = params(s)
    return Estimate(r.name, r.precision.mode, gpu.name, gpu.memory_gb * GB, p, train_memory(r, s, p),
                    rollout_memory(r, s, p, gpu.memory_gb * GB))


def train_memory(r: Recipe, s: ModelShape, p: Params) -> TrainMemory:
    par, world = r.parallel, r.cluster.nodes * r.cluster.gpus_per_node
    tp, pp = par.tensor, par.pipeline
    vocab_part = p.embed + p.lm_head if pp == 1 else max(p.embed, p.lm_head)
    dense = (p.dense - p.embed - p.lm_head) / (tp * pp) + vocab_part / tp
    experts = p.experts / (par.expert * par.expert_tensor * pp)
    dp = max(1, world // (tp * pp * par.context))
    edp = max(1, world // (par.expert * par.expert_tensor * pp))
    optimizer = 12 * (dense / dp + experts / edp)
    tokens, sp = r.training.max_tokens_per_gpu, tp if par.sequence_parallel else 1
    layer_full = 34 * tokens * s.hidden / tp
    stage_layers = math.ceil(s.layers / pp)
    kept = 2 * tokens * s.hidden / sp * stage_layers + layer_full if r.training.recompute else layer_full * stage_layers
    offload = r.optimizer.cpu_offload
    return TrainMemory(weights=2 * (dense + experts), grads=4 * (dense + experts),
                       optimizer=0.0 if offload else optimizer, host_optimizer=optimizer if offload else 0.0,
                       activations=kept, logits=2 * 4 * tokens * s.vocab / tp)


# Bytes per parameter of the quantized weights in each rollout format, scales included (precision.rollout_format).
def _bf16_bytes(group: int) -> float:
    return 2


def _fp8_bytes(group: int) -> float:
    return 1 + 4 / (FP8_BLOCK[0] * FP8_BLOCK[1])


def _int4_bytes(group: int) -> float:
    return 0.5 + 2 / group


ROLLOUT_FORMATS = {  # format -> (which Params fields are quantized, bytes per quantized param)
    "bf16": ((), _bf16_bytes),
    "fp8-block": (("linears", "experts"), _fp8_bytes),
    "int4-pack": (("experts",), _int4_bytes),
}


def rollout_memory(r: Recipe, s: ModelShape, p: Params, hbm: float) -> RolloutMemory:
    ro = r.rollout
    tp = ro.gpus_per_engine
    quantized, per_param = ROLLOUT_FORMATS[mode(r.precision.mode).rollout_format]

    def size(field: str) -> float:
        return getattr(p, field) * (per_param(r.precision.group_size) if field in quantized else 2)
    ep = ro.sglang.expert_parallel_size or tp
    weights = (size("embed") + size("lm_head") + size("linears") + size("small")) / tp + size("experts") / ep
    pool = ro.sglang.mem_fraction_static * hbm
    if s.mla:
        kv_token = s.layers * ((s.kv_lora_rank or 0) + s.qk_rope_head_dim) * 2
    else:
        kv_token = 2 * s.layers * max(1, s.kv_heads // tp) * s.head_dim * 2
    kv_tokens = max(0, int((pool - weights) // kv_token))
    engines = max(1, layout(r).rollout_gpus // tp)  # whole engines, even when one spans nodes
    samples = (ro.over_sampling_batch_size or ro.batch_size) * ro.n_samples_per_prompt
    return RolloutMemory(weights=weights, static_pool=pool, kv_bytes_per_token=kv_token, kv_tokens=kv_tokens,
                         sequences=kv_tokens // ro.max_response_len, needed=math.ceil(samples / engines))


ROWS: tuple[tuple[str, str], ...] = (  # (label, attribute path on Estimate); "gb:" formats bytes as GB
    ("GPU", "gpu"),
    ("parameters (B)", "params.total"),
    ("train weights BF16 (GB/GPU)", "gb:train.weights"),
    ("train grads FP32 (GB/GPU)", "gb:train.grads"),
    ("train optimizer on GPU (GB/GPU)", "gb:train.optimizer"),
    ("train optimizer on host (GB/GPU)", "gb:train.host_optimizer"),
    ("train activations (GB/GPU)", "gb:train.activations"),
    ("train logits (GB/GPU)", "gb:train.logits"),
    ("train total (GB/GPU)", "gb:train.total"),
    ("HBM (GB/GPU)", "gb:hbm"),
    ("rollout weights (GB/GPU)", "gb:rollout.weights"),
    ("rollout static pool (GB/GPU)", "gb:rollout.static_pool"),
    ("rollout KV budget (GB/GPU)", "gb:rollout.kv_budget"),
    ("KV bytes/token/GPU", "rollout.kv_bytes_per_token"),
    ("KV tokens per engine", "rollout.kv_tokens"),
    ("max-length sequences per engine", "rollout.sequences"),
    ("sequences needed per engine", "rollout.needed"),
)


def table(estimates: list[Estimate]) -> str:
    """One text table: a row per quantity, a column per estimate (mode)."""
    head = ["", *(f"{e.recipe} [{e.mode}]" if len({x.recipe for x in estimates}) > 1 else e.mode
                  for e in estimates)]
    rows = [head] + [[label, *(_cell(e, attr) for e in estimates)] for label, attr in ROWS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                                 strict=True)))
                     for row in rows) + "\n"


def _cell(e: Estimate, attr: str) -> str:
    as_gb = attr.startswith("gb:")
    value: object = e
    for part in attr.removeprefix("gb:").split("."):
        value = getattr(value, part)
    if as_gb:
        return f"{value / GB:.1f}"  # type: ignore[operator]
    if attr == "params.total":
        return f"{value / 1e9:.2f}"  # type: ignore[operator]
    return f"{value:,}" if isinstance(value, int) else f"{value:,.0f}" if isinstance(value, float) else str(value)


def estimate_modes(name: str, overrides: list[str] | tuple[str, ...] = (), modes: list[str] | None = None,
                   recipes_dir: str | None = None) -> list[Estimate]:
    """The recipe's estimate, or one per precision mode (the `precision=MODE` group override) side by side."""
    runs = [list(overrides) + [f"precision={m}"] for m in modes] if modes else [list(overrides)]
    return [estimate(res.recipe, res.shape) for res in (resolve(name, o, recipes_dir) for o in runs)]
