"""HF `config.json` -> Megatron model args, through one mapping table plus per-family fixed flags.

Upstream slime hand-writes these as `scripts/models/*.sh` (THUDM/slime@624b824a); the mapping follows
the HF -> Megatron table of the reference (slime-low-precision.md §2.3), and slime's start-up check
`_hf_validate_args` (slime/backends/megatron_utils/arguments.py:97-148) asserts the same fields.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recipe_runner.errors import Problem, UserError, user_error
from recipe_runner.limits import MAX_CONFIG_BYTES

BUNDLED_CONFIGS = Path(__file__).resolve().parent / "data" / "model-configs"

# model_type -> family. Kimi-K2 is DeepSeek-V3 architecture (slime's HF loader maps both).
FAMILIES = {"qwen3": "dense", "qwen3_moe": "qwen-moe", "deepseek_v3": "mla-moe", "kimi_k2": "mla-moe"}


@dataclass(frozen=True)
class ModelShape:
    """What the checks and the memory estimate need, read once from config.json."""

    model_type: str
    family: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int  # dense intermediate size
    vocab: int
    tied_embeddings: bool
    experts: int  # routed experts (0 = dense)
    moe_ffn: int
    topk: int
    shared_ffn: int  # total shared-expert intermediate size
    moe_layers: tuple[bool, ...]
    mla: bool
    q_lora_rank: int | None
    kv_lora_rank: int | None
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    config: dict

    @property
    def is_moe(self) -> bool:
        return self.experts > 0


def load_config(ref: str, overrides: dict | None = None) -> dict:
    """A bundled config by name, or config.json at a path (file or checkpoint directory)."""
    bundled = BUNDLED_CONFIGS / f"{ref}.json"
    path = bundled if bundled.is_file() else Path(ref).expanduser()
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        names = sorted(p.stem for p in BUNDLED_CONFIGS.glob("*.json"))
        raise user_error("model.config", f"{ref!r} is neither a bundled config nor a config.json path",
                         rule=f"bundled: {', '.join(names)}; or a path to config.json / its directory",
                         hint="fix model.config=...", title="invalid model")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise user_error(str(path), f"is {path.stat().st_size} bytes, over the {MAX_CONFIG_BYTES}-byte limit",
                         rule="a Hugging Face config.json is a few KiB of architecture fields",
                         hint="point model.config at the model's config.json", title="invalid model")
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError) as e:  # ValueError: not JSON, or not UTF-8 (a binary file)
        raise user_error(str(path), f"cannot read config.json: {e}", hint="point model.config at a valid "
                         "Hugging Face config.json", title="invalid model") from None
    if isinstance(cfg, dict) and "num_hidden_layers" not in cfg and "text_config" in cfg:  # multimodal wrappers
        cfg = cfg["text_config"]
        path = Path(f"{path}: text_config")
    if not isinstance(cfg, dict):
        raise user_error(str(path), f"is a JSON {_json_type(cfg)}, not an object", rule="a Hugging Face "
                         "config.json is one JSON object of architecture fields", hint="point model.config at "
                         "the model's config.json", title="invalid model")
    return {**cfg, **(overrides or {})}


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


# config.json fields the model args are derived from: (key, required, kind, minimum). A wrong type or a
# non-positive dimension is an error here, not a traceback or a flag Megatron rejects minutes into a job.
CONFIG_FIELDS: tuple[tuple[str, bool, type | tuple[type, ...], float | None], ...] = (
    ("num_hidden_layers", True, int, 1),
    ("hidden_size", True, int, 1),
    ("num_attention_heads", True, int, 1),
    ("intermediate_size", True, int, 1),
    ("vocab_size", True, int, 1),
    ("rms_norm_eps", True, (int, float), 0),
    ("num_key_value_heads", False, int, 1),
    ("head_dim", False, int, 1),
    ("num_experts", False, int, 0),
    ("n_routed_experts", False, int, 0),
    ("moe_intermediate_size", False, int, 0),
    ("num_experts_per_tok", False, int, 0),
    ("n_shared_experts", False, int, 0),
    ("shared_expert_intermediate_size", False, int, 0),
    ("first_k_dense_replace", False, int, 0),
    ("decoder_sparse_step", False, int, 0),
    ("q_lora_rank", False, int, 1),
    ("kv_lora_rank", False, int, 1),
    ("qk_nope_head_dim", False, int, 0),
    ("qk_rope_head_dim", False, int, 0),
    ("v_head_dim", False, int, 0),
    ("rope_theta", False, (int, float), 0),
    ("routed_scaling_factor", False, (int, float), 0),
    ("topk_group", False, int, 1),
    ("n_group", False, int, 1),
    ("tie_word_embeddings", False, bool, None),
    ("attention_bias", False, bool, None),
    ("hidden_act", False, str, None),
    ("scoring_func", False, str, None),
    ("topk_method", False, str, None),
    ("rope_scaling", False, dict, None),
    ("mlp_only_layers", False, list, None),
)


def check_config(cfg: dict) -> None:
    """Every field of CONFIG_FIELDS with its type and bound (an optional field may be absent or null)."""
    problems = []
    for key, required, kind, minimum in CONFIG_FIELDS:
        value = cfg.get(key)
        if value is None and not required:
            continue
        if not _fits(value, kind, minimum):
            problems.append(Problem(f"model.config: {key}", _shown(cfg, key),
                                    rule=f"{key} must be {_want(kind, minimum)}",
                                    hint=f"fix config.json, or set model.config_overrides.{key}"))
    if problems:
        raise UserError("the model config.json is not valid", problems)


def _shown(cfg: dict, key: str) -> str:
    return "is missing" if key not in cfg else "is null" if cfg[key] is None else f"is {cfg[key]!r}"


def _fits(value: object, kind: type | tuple[type, ...], minimum: float | None) -> bool:
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        return False
    if kind is int:
        return minimum is None or value >= minimum
    if kind == (int, float):  # a positive finite number (eps, rope base, scaling factor)
        return math.isfinite(value) and value > minimum
    if kind is list:
        return all(isinstance(i, int) and not isinstance(i, bool) for i in value)
    return True


def _want(kind: type | tuple[type, ...], minimum: float | None) -> str:
    if kind is int:
        return f"an integer >= {minimum}"
    if kind == (int, float):
        return "a number > 0"
    return {str: "a string", bool: "true or false", dict: "an object", list: "a list of integers"}[kind]


def shape_of(cfg: dict) -> ModelShape:
    mt = cfg.get("model_type", "")
    if not isinstance(mt, str) or mt not in FAMILIES:
        raise user_error("model.config", f"model_type {mt!r} is not supported",
                         rule=f"supported model types: {', '.join(FAMILIES)}", title="invalid model")
    check_config(cfg)
    heads = cfg["num_attention_heads"]
    layers = cfg["num_hidden_layers"]
    experts = cfg.get("num_experts") or cfg.get("n_routed_experts") or 0
    moe_ffn = cfg.get("moe_intermediate_size") or 0
    return ModelShape(
        model_type=mt,
        family=FAMILIES[mt],
        layers=layers,
        hidden=cfg["hidden_size"],
        heads=heads,
        kv_heads=cfg.get("num_key_value_heads") or heads,
        head_dim=cfg.get("head_dim") or cfg["hidden_size"] // heads,
        ffn=cfg["intermediate_size"],
        vocab=cfg["vocab_size"],
        tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
        experts=experts,
        moe_ffn=moe_ffn,
        topk=cfg.get("num_experts_per_tok") or 0,
        shared_ffn=(cfg.get("n_shared_experts") or 0) * moe_ffn or cfg.get("shared_expert_intermediate_size")
        or 0,
        moe_layers=_moe_layers(cfg, layers, experts),
        mla=cfg.get("kv_lora_rank") is not None,
        q_lora_rank=cfg.get("q_lora_rank"),
        kv_lora_rank=cfg.get("kv_lora_rank"),
        qk_nope_head_dim=cfg.get("qk_nope_head_dim") or 0,
        qk_rope_head_dim=cfg.get("qk_rope_head_dim") or 0,
        v_head_dim=cfg.get("v_head_dim") or 0,
        config=cfg,
    )


def _moe_layers(cfg: dict, layers: int, experts: int) -> tuple[bool, ...]:
    if not experts:
        return (False,) * layers
    if "first_k_dense_replace" in cfg:  # DeepSeek-V3 / Kimi
        k = cfg["first_k_dense_replace"]
        return tuple(i >= k for i in range(layers))
    dense = set(cfg.get("mlp_only_layers") or [])  # Qwen MoE
    step = cfg.get("decoder_sparse_step") or 1
    return tuple(i not in dense and (i + 1) % step == 0 for i in range(layers))


def _num(v: float | int) -> str:
    """Megatron-friendly number: 1000000.0 -> 1000000, 1e-06 -> 1e-06."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() and abs(v) >= 1 else str(v)


def _rope(s: ModelShape, key: str, default: float) -> float:
    return (s.config.get("rope_scaling") or {}).get(key, default)


Value = Callable[[ModelShape], "str | bool | None"]  # str: flag value; True: bare flag; None/False: omit

# The mapping table: (flag, families it applies to, how to derive it). Order = emitted order.
ALL = ("dense", "qwen-moe", "mla-moe")
MOE = ("qwen-moe", "mla-moe")
QWEN = ("dense", "qwen-moe")
MLA = ("mla-moe",)
MODEL_ARG_TABLE: tuple[tuple[str, tuple[str, ...], Value], ...] = (
    ("--swiglu", ALL, lambda s: s.config.get("hidden_act") == "silu"),
    ("--num-layers", ALL, lambda s: str(s.layers)),
    ("--hidden-size", ALL, lambda s: str(s.hidden)),
    ("--ffn-hidden-size", ALL, lambda s: str(s.ffn)),
    ("--num-attention-heads", ALL, lambda s: str(s.heads)),
    ("--group-query-attention", QWEN, lambda s: s.kv_heads < s.heads),
    ("--num-query-groups", QWEN, lambda s: str(s.kv_heads) if s.kv_heads < s.heads else None),
    ("--kv-channels", QWEN, lambda s: str(s.head_dim)),
    ("--qk-layernorm", ALL, lambda s: True),
    ("--disable-bias-linear", ALL, lambda s: not s.config.get("attention_bias", False)),
    ("--normalization", ALL, lambda s: "RMSNorm"),
    ("--norm-epsilon", ALL, lambda s: _num(s.config["rms_norm_eps"])),
    ("--position-embedding-type", ALL, lambda s: "rope"),
    ("--rotary-percent", QWEN, lambda s: "1.0"),
    ("--rotary-base", ALL, lambda s: _num(s.config.get("rope_theta", 10000))),
    ("--vocab-size", ALL, lambda s: str(s.vocab)),
    ("--untie-embeddings-and-output-weights", ALL, lambda s: not s.tied_embeddings),
    # MLA (DeepSeek-V3 style)
    ("--multi-latent-attention", MLA, lambda s: True),
    ("--q-lora-rank", MLA, lambda s: str(s.q_lora_rank) if s.q_lora_rank else None),
    ("--kv-lora-rank", MLA, lambda s: str(s.kv_lora_rank)),
    ("--qk-head-dim", MLA, lambda s: str(s.qk_nope_head_dim)),
    ("--qk-pos-emb-head-dim", MLA, lambda s: str(s.qk_rope_head_dim)),
    ("--v-head-dim", MLA, lambda s: str(s.v_head_dim)),
    ("--rotary-scaling-factor", MLA, lambda s: _num(_rope(s, "factor", 1))),
    ("--mscale", MLA, lambda s: str(float(_rope(s, "mscale", 1.0)))),
    ("--mscale-all-dim", MLA, lambda s: str(float(_rope(s, "mscale_all_dim", 1.0)))),
    ("--attention-softmax-in-fp32", MLA, lambda s: True),
    ("--no-rope-fusion", MLA, lambda s: True),
    # MoE
    ("--num-experts", MOE, lambda s: str(s.experts)),
    ("--moe-layer-freq", MOE, lambda s: layer_pattern(s.moe_layers)),
    ("--moe-ffn-hidden-size", MOE, lambda s: str(s.moe_ffn)),
    ("--moe-router-topk", MOE, lambda s: str(s.topk)),
    ("--moe-shared-expert-intermediate-size", MOE, lambda s: str(s.shared_ffn) if s.shared_ffn else None),
    ("--moe-router-pre-softmax", MLA, lambda s: True),
    ("--moe-router-score-function", MOE, lambda s: s.config.get("scoring_func", "softmax")),
    ("--moe-router-enable-expert-bias", MOE, lambda s: s.config.get("topk_method") == "noaux_tc"),
    ("--moe-router-load-balancing-type", MLA, lambda s: "seq_aux_loss"),
    ("--moe-token-dispatcher-type", MOE, lambda s: "alltoall"),
    ("--moe-aux-loss-coeff", MOE, lambda s: "0"),
    ("--moe-router-bias-update-rate", MOE, lambda s: "0" if s.config.get("topk_method") == "noaux_tc" else None),
    ("--moe-router-group-topk", MLA, lambda s: str(s.config.get("topk_group", 1))),
    ("--moe-router-num-groups", MLA, lambda s: str(s.config.get("n_group", 1))),
    ("--moe-grouped-gemm", MOE, lambda s: True),
    ("--moe-router-topk-scaling-factor", MOE, lambda s: _num(s.config["routed_scaling_factor"])
     if s.config.get("routed_scaling_factor") not in (None, 1, 1.0) else None),
    ("--moe-token-drop-policy", ("qwen-moe",), lambda s: "probs"),
    ("--moe-router-dtype", MOE, lambda s: "fp32"),
    ("--moe-permute-fusion", MOE, lambda s: True),
)


def layer_pattern(flags: tuple[bool, ...] | list[bool]) -> str:
    """Run-length pattern for Megatron's list-valued layer flags: (F, T, T) -> "[0]*1+[1]*2".

    Megatron's `moe_freq_type` evaluates the value with `_eval_pattern`, which rejects any
    character outside `0-9 , [ ] ( ) + *` (NVIDIA/Megatron-LM megatron/training/arguments.py,
    `_eval_pattern`), so no spaces; slime's scripts write the same compact form (`[0]+[1]*26`)."""
    runs: list[list[int]] = []
    for bit in (1 if f else 0 for f in flags):
        if runs and runs[-1][0] == bit:
            runs[-1][1] += 1
        else:
            runs.append([bit, 1])
    return "+".join(f"[{bit}]*{count}" for bit, count in runs)


def bare_flags(shape: ModelShape) -> frozenset[str]:
    """The value-less flags `model_args` emits for this shape (the table knows which they are)."""
    return frozenset(flag for flag, families, derive in MODEL_ARG_TABLE
                     if shape.family in families and derive(shape) is True)


def model_args(shape: ModelShape, extra_args: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Megatron model args for this config, in table order, then the model's own extra flags."""
    argv: list[str] = []
    for flag, families, derive in MODEL_ARG_TABLE:
        if shape.family not in families:
            continue
        value = derive(shape)
        if value is True:
            argv.append(flag)
        elif isinstance(value, str):
            argv += [flag, value]
    return argv + list(extra_args)
