"""HF `config.json` -> Megatron model args, through one mapping table for every model family.

Upstream slime hand-writes these as `scripts/models/*.sh` (THUDM/slime@624b824a); the table derives the same
flags from the config (tests/test_model_scripts.py checks all 39 scripts; docs/models.md), following the
HF -> Megatron table of the reference (slime-low-precision.md §2.3). slime's start-up check `_hf_validate_args`
(slime/backends/megatron_utils/arguments.py:97-148) asserts a subset of the same fields.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recipe_runner.errors import Problem, UserError, user_error
from recipe_runner.limits import MAX_CONFIG_BYTES
from recipe_runner.resources import shipped
from recipe_runner.steps import Arg, split_flags

BUNDLED_CONFIGS = shipped("data") / "model-configs"

# model_type (of the text model, for multimodal wrappers) -> family: the families differ in the flags slime's
# scripts set beyond what config.json gives. Kimi-K2 is DeepSeek-V3 architecture; Moonlight's type is deepseek_v3.
FAMILIES = {
    "qwen2": "qwen2", "qwen3": "qwen3", "llama": "llama", "qwen3_moe": "qwen3-moe", "qwen3_next": "qwen3-next",
    "qwen3_5_text": "qwen3.5", "qwen3_5_moe_text": "qwen3.5-moe", "deepseek_v3": "deepseek-v3", "kimi_k2": "kimi-k2",
    "glm4_moe_lite": "glm4-moe-lite", "glm_moe_dsa": "glm-moe-dsa", "minimax_m2": "minimax-m2",
}


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
    rope_theta: float
    rotary_percent: float  # fraction of head_dim that gets RoPE
    linear_layers: tuple[bool, ...]  # gated-DeltaNet (linear attention) layers of hybrid models
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
    for what, value in (("", cfg), (": text_config", cfg.get("text_config") if isinstance(cfg, dict) else None)):
        if value is not None and not isinstance(value, dict):
            raise user_error(f"{path}{what}", f"is a JSON {_json_type(value)}, not an object", rule="a Hugging "
                             "Face config.json is one JSON object of architecture fields", hint="point model.config "
                             "at the model's config.json", title="invalid model")
    return {**text_model_config(cfg), **(overrides or {})}


def _json_type(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def text_model_config(cfg: dict) -> dict:
    """The language model's fields. Multimodal wrappers (Qwen3.5, Kimi-K2.5) nest them under `text_config`;
    the wrapper's own `tie_word_embeddings` applies where `text_config` does not repeat it (Qwen3.5-35B-A3B)."""
    if "num_hidden_layers" in cfg or "text_config" not in cfg:
        return cfg
    top = {"tie_word_embeddings": cfg["tie_word_embeddings"]} if "tie_word_embeddings" in cfg else {}
    return {**top, **cfg["text_config"]}


# config.json fields the model args are derived from: (key, required, kind, minimum). A wrong type or a
# non-positive dimension is an error here, not a traceback or a flag Megatron rejects minutes into a job.
CONFIG_FIELDS: tuple[tuple[str, bool, type | tuple[type, ...], float | None], ...] = (
    ("num_hidden_layers", True, int, 1),
    ("hidden_size", True, int, 1),
    ("num_attention_heads", True, int, 1),
    ("vocab_size", True, int, 1),
    ("intermediate_size", False, int, 1),
    ("rms_norm_eps", False, (int, float), 0),
    ("num_key_value_heads", False, int, 1),
    ("head_dim", False, int, 1),
    ("num_experts", False, int, 0),
    ("n_routed_experts", False, int, 0),
    ("num_local_experts", False, int, 0),
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
    try:
        heads = cfg["num_attention_heads"]
        layers = cfg["num_hidden_layers"]
        experts = cfg.get("num_experts") or cfg.get("n_routed_experts") or cfg.get("num_local_experts") or 0
        # MiniMax-M2 has only `intermediate_size`, the per-expert size; Qwen3.5-35B-A3B has only the expert size
        # (every layer is MoE) and slime's script passes it as --ffn-hidden-size too.
        moe_ffn = cfg.get("moe_intermediate_size") or (cfg["intermediate_size"] if experts else 0)
        head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
        return ModelShape(
            model_type=mt,
            family=FAMILIES[mt],
            layers=layers,
            hidden=cfg["hidden_size"],
            heads=heads,
            kv_heads=cfg.get("num_key_value_heads") or heads,
            head_dim=head_dim,
            ffn=cfg.get("intermediate_size") or cfg["moe_intermediate_size"],
            vocab=cfg["vocab_size"],
            tied_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            experts=experts,
            moe_ffn=moe_ffn,
            topk=cfg.get("num_experts_per_tok") or 0,
            shared_ffn=(cfg.get("n_shared_experts") or 0) * moe_ffn or cfg.get("shared_expert_intermediate_size")
            or cfg.get("shared_intermediate_size") or 0,
            moe_layers=_moe_layers(cfg, layers, experts),
            mla=cfg.get("kv_lora_rank") is not None,
            q_lora_rank=cfg.get("q_lora_rank"),
            kv_lora_rank=cfg.get("kv_lora_rank"),
            qk_nope_head_dim=cfg.get("qk_nope_head_dim") or 0,
            qk_rope_head_dim=cfg.get("qk_rope_head_dim") or 0,
            v_head_dim=cfg.get("v_head_dim") or 0,
            rope_theta=_rope_parameter(cfg, "rope_theta", 10000),
            rotary_percent=cfg["rotary_dim"] / head_dim if "rotary_dim" in cfg
            else _rope_parameter(cfg, "partial_rotary_factor", 1.0),
            linear_layers=_linear_layers(cfg, layers),
            config=cfg,
        )
    except KeyError as e:
        raise user_error("model.config", f"config.json lacks {e.args[0]!r}", rule="a model config needs the "
                         "architecture fields", hint="use the model's full config.json, or add the field to "
                         "model.config_overrides", title="invalid model") from None


def _rope_parameter(cfg: dict, key: str, default: float) -> float:
    """transformers-5 configs (Qwen3.5, GLM-5) keep RoPE settings in `rope_parameters`; older ones top-level.
    slime's `_hf_validate_args` prefers the `rope_parameters` value too (slime/backends/megatron_utils/
    arguments.py:107-114)."""
    nested = cfg.get("rope_parameters") or {}
    return nested[key] if key in nested else cfg.get(key, default)


def _linear_layers(cfg: dict, layers: int) -> tuple[bool, ...]:
    """Qwen3-Next / Qwen3.5 list `layer_types`, or give one full-attention layer per `full_attention_interval`."""
    if "layer_types" in cfg:
        return tuple(t == "linear_attention" for t in cfg["layer_types"])
    every = cfg.get("full_attention_interval")
    return tuple(bool(every) and (i + 1) % every != 0 for i in range(layers))


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


def _rope(s: ModelShape, key: str, default: float | None) -> float | None:
    return (s.config.get("rope_scaling") or {}).get(key, default)


Value = Callable[[ModelShape], "str | tuple[str, ...] | bool | None"]  # str/tuple: value(s); True: bare flag


def _const(value: str | tuple[str, ...] | bool) -> Value:
    return lambda s: value

# Families (FAMILIES values), grouped by what slime's scripts (THUDM/slime@624b824a:scripts/models/*.sh) set.
OLD_ROPE = ("qwen2", "qwen3", "llama")  # scripts spell RoPE --use-rotary-position-embeddings
QWEN_MOE = ("qwen3-moe", "qwen3-next", "qwen3.5-moe")
HYBRID = ("qwen3-next", "qwen3.5", "qwen3.5-moe")  # gated-DeltaNet + gated full attention, built by slime's spec
GQA = OLD_ROPE + QWEN_MOE + ("qwen3.5", "minimax-m2")
DSV3 = ("deepseek-v3", "kimi-k2")  # DeepSeek-V3 architecture (also Moonlight, model_type deepseek_v3)
GLM = ("glm4-moe-lite", "glm-moe-dsa")  # GLM-4.7-Flash; GLM-5 / GLM-5.2 (DSA)
MLA = DSV3 + GLM
SIGMOID = MLA + ("minimax-m2",)  # sigmoid router with expert bias
MOE = QWEN_MOE + SIGMOID
ALL = GQA + MLA


def _but(group: tuple[str, ...], *drop: str) -> tuple[str, ...]:
    return tuple(f for f in group if f not in drop)


# THE mapping table: (flag, families it applies to, how to derive it from the config). Order = emitted order.
# Rows with the same flag cover disjoint families. Constant rows are what slime's scripts fix per family.
MODEL_ARG_TABLE: tuple[tuple[str, tuple[str, ...], Value], ...] = (
    ("--spec", ("qwen3-next",), _const(("slime_plugins.models.qwen3_next", "get_qwen3_next_spec"))),
    ("--spec", ("qwen3.5", "qwen3.5-moe"), _const(("slime_plugins.models.qwen3_5", "get_qwen3_5_spec"))),
    ("--spec", ("glm-moe-dsa",), _const(("slime_plugins.models.glm5.glm5", "get_glm5_spec"))),
    ("--spec", ("minimax-m2",), _const(("slime_plugins.models.minimax_m2", "get_minimax_m2_layer_spec"))),
    ("--swiglu", ALL, lambda s: s.config.get("hidden_act") == "silu"),
    ("--num-layers", ALL, lambda s: str(s.layers)),
    ("--hidden-size", ALL, lambda s: str(s.hidden)),
    ("--ffn-hidden-size", ALL, lambda s: str(s.ffn)),
    ("--num-attention-heads", ALL, lambda s: str(s.heads)),
    # MLA: num_key_value_heads equals the head count and is no GQA; head_dim is not --kv-channels.
    ("--group-query-attention", GQA, lambda s: s.kv_heads < s.heads),
    ("--num-query-groups", GQA, lambda s: str(s.kv_heads) if s.kv_heads < s.heads else None),
    ("--kv-channels", _but(GQA, "qwen2"), lambda s: str(s.head_dim)),
    ("--kv-channels", ("deepseek-v3", *GLM), lambda s: str(s.qk_nope_head_dim)),
    ("--kv-channels", ("kimi-k2",), lambda s: str(s.qk_rope_head_dim)),
    ("--max-position-embeddings", ("llama",), lambda s: str(s.config["max_position_embeddings"])),
    ("--use-rotary-position-embeddings", OLD_ROPE, _const(True)),
    ("--position-embedding-type", _but(ALL, *OLD_ROPE), _const("rope")),
    ("--no-position-embedding", GLM, _const(True)),
    ("--rotary-percent", ("qwen3.5", "minimax-m2", *QWEN_MOE), lambda s: _num(s.rotary_percent)),
    ("--rotary-base", ALL, lambda s: _num(s.rope_theta)),
    ("--use-rope-scaling", ("llama",), lambda s: _rope(s, "rope_type", None) == "llama3"),
    ("--rotary-scaling-factor", ("llama",), lambda s: _num(f) if (f := _rope(s, "factor", None)) else None),
    ("--rotary-scaling-factor", DSV3, lambda s: _num(_rope(s, "factor", 1))),
    ("--mscale", DSV3, lambda s: str(float(_rope(s, "mscale", 1.0)))),
    ("--mscale-all-dim", DSV3, lambda s: str(float(_rope(s, "mscale_all_dim", 1.0)))),
    ("--disable-bias-linear", ALL, _const(True)),
    ("--add-qkv-bias", ("qwen2",), _const(True)),  # HF Qwen2Attention builds q/k/v with bias=True, no config key
    ("--add-qkv-bias", _but(ALL, "qwen2"), lambda s: bool(s.config.get("attention_bias"))),
    ("--normalization", ALL, _const("RMSNorm")),
    ("--apply-layernorm-1p", HYBRID, _const(True)),  # zero-centred RMSNorm weights (1 + w)
    ("--norm-epsilon", _but(ALL, *GLM), lambda s: _num(s.config["rms_norm_eps"])),
    # slime's GLM scripts leave Megatron's default 1e-5 (their configs' value); any other value is passed.
    ("--norm-epsilon", GLM, lambda s: None if s.config["rms_norm_eps"] == 1e-5 else _num(s.config["rms_norm_eps"])),
    ("--qk-layernorm", _but(ALL, "qwen2", "llama"), _const(True)),
    ("--use-gated-attention", HYBRID, _const(True)),
    ("--attention-output-gate", HYBRID, _const(True)),
    ("--vocab-size", ALL, lambda s: str(s.vocab)),
    ("--make-vocab-size-divisible-by", ("glm4-moe-lite",), _const("64")),
    ("--make-vocab-size-divisible-by", ("glm-moe-dsa",), _const("16")),
    ("--untie-embeddings-and-output-weights", ALL, lambda s: not s.tied_embeddings),
    # MLA (DeepSeek-V3 style)
    ("--multi-latent-attention", MLA, _const(True)),
    ("--q-lora-rank", MLA, lambda s: str(s.q_lora_rank) if s.q_lora_rank else None),
    ("--kv-lora-rank", MLA, lambda s: str(s.kv_lora_rank)),
    ("--qk-head-dim", MLA, lambda s: str(s.qk_nope_head_dim)),
    ("--qk-pos-emb-head-dim", MLA, lambda s: str(s.qk_rope_head_dim)),
    ("--v-head-dim", MLA, lambda s: str(s.v_head_dim)),
    ("--attention-softmax-in-fp32", (*DSV3, "minimax-m2"), _const(True)),
    ("--no-rope-fusion", _but(SIGMOID, "glm-moe-dsa"), _const(True)),
    ("--enable-experimental", ("glm-moe-dsa",), _const(True)),
    ("--allgather-cp", ("glm-moe-dsa",), _const(True)),
    # MoE
    ("--num-experts", MOE, lambda s: str(s.experts)),
    ("--moe-layer-freq", MOE, lambda s: layer_pattern(s.moe_layers)),
    ("--moe-ffn-hidden-size", MOE, lambda s: str(s.moe_ffn)),
    ("--moe-router-topk", MOE, lambda s: str(s.topk)),
    ("--moe-shared-expert-intermediate-size", MOE, lambda s: str(s.shared_ffn) if s.shared_ffn else None),
    ("--moe-shared-expert-gate", ("qwen3-next", "qwen3.5-moe"), _const(True)),
    ("--moe-router-pre-softmax", SIGMOID, _const(True)),
    ("--moe-router-score-function", QWEN_MOE, lambda s: s.config.get("scoring_func", "softmax")),
    # GLM-4.7-Flash's config has no scoring_func: HF's Glm4MoeLite router is sigmoid, like DeepSeek-V3's.
    ("--moe-router-score-function", SIGMOID, lambda s: s.config.get("scoring_func", "sigmoid")),
    ("--moe-router-enable-expert-bias", SIGMOID,
     lambda s: s.config.get("topk_method") == "noaux_tc" or bool(s.config.get("use_routing_bias"))),
    ("--moe-router-load-balancing-type", MLA, _const("seq_aux_loss")),
    ("--moe-router-load-balancing-type", ("minimax-m2",), _const("none")),
    ("--moe-token-dispatcher-type", _but(MOE, *GLM), _const("alltoall")),
    ("--moe-aux-loss-coeff", MOE, _const("0")),
    ("--moe-router-bias-update-rate", MLA, _const("0")),
    ("--moe-router-group-topk", DSV3, lambda s: str(s.config.get("topk_group", 1))),
    ("--moe-router-num-groups", DSV3, lambda s: str(s.config.get("n_group", 1))),
    ("--moe-grouped-gemm", MOE, _const(True)),
    ("--moe-router-topk-scaling-factor", MOE, lambda s: _num(s.config["routed_scaling_factor"])
     if s.config.get("routed_scaling_factor") not in (None, 1, 1.0) else None),
    ("--moe-token-drop-policy", QWEN_MOE, _const("probs")),
    ("--moe-router-dtype", MOE, _const("fp32")),
    ("--moe-permute-fusion", MOE, _const(True)),
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


def model_flags(shape: ModelShape, extra_args: list[str] | tuple[str, ...] = ()) -> list[Arg]:
    """Megatron model args for this config, in table order; the model entry's `extra_args` come last and
    replace a derived flag of the same name (e.g. a vision-language `--spec`) instead of repeating it."""
    extra = split_flags(extra_args)
    given = {a.flag for a in extra}
    out: list[Arg] = []
    for flag, families, derive in MODEL_ARG_TABLE:
        if shape.family not in families or flag in given:
            continue
        value = derive(shape)
        if value is True:
            out.append(Arg(flag))
        elif isinstance(value, str):
            out.append(Arg(flag, (value,)))
        elif isinstance(value, tuple):
            out.append(Arg(flag, value))
    return out + extra


def model_args(shape: ModelShape, extra_args: list[str] | tuple[str, ...] = ()) -> list[str]:
    """model_flags as train.py's argv."""
    return [w for a in model_flags(shape, extra_args) for w in a.argv]
