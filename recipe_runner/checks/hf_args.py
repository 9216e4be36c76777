"""slime's start-up check of the model args against `--hf-checkpoint/config.json`, before launch.

slime's `_hf_validate_args` (THUDM/slime@624b824a:slime/backends/megatron_utils/arguments.py:97-148) compares the
parsed Megatron args with the Hugging Face config and aborts the job on the first mismatch, minutes after the GPUs
were allocated. This rule applies the same table to the model args the plan passes (table-derived flags, then
model.extra_args: argparse keeps the last occurrence) against the rollout checkpoint's config.json when it is
readable here, else against the recipe's model config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from recipe_runner.checks.checkpoint import read_checkpoint, rollout_path
from recipe_runner.checks.finding import Finding, error
from recipe_runner.models import ModelShape, model_flags
from recipe_runner.spec import Recipe

SOURCE = "THUDM/slime@624b824a:slime/backends/megatron_utils/arguments.py:97-148"


Flags = dict[str, tuple[str, ...]]  # flag -> the values argparse keeps (its last occurrence)


def _bare(flag: str) -> Callable[[Flags], bool]:
    return lambda flags: flag in flags


def _value(flag: str, kind: type, default: object) -> Callable[[Flags], object]:
    """The value argparse keeps for `flag`, or Megatron's default when absent."""
    def read(flags: Flags) -> object:
        if not flags.get(flag):
            return default
        try:
            return kind(flags[flag][0])
        except ValueError:
            return flags[flag][0]
    return read


# (HF config key, the Megatron flag, how slime compares, how Megatron reads the flag). Megatron's types and
# defaults: NVIDIA/Megatron-LM@1dcf0daf megatron/training/arguments.py (`_add_network_size_args`,
# `--rotary-base` int default 10000, `--norm-epsilon` float default 1e-5, sizes int default None).
TABLE: tuple[tuple[str, str, Callable[[object, object], bool], Callable[[Flags], object]], ...] = (
    ("hidden_size", "--hidden-size", lambda hf, m: hf == m, _value("--hidden-size", int, None)),
    ("num_attention_heads", "--num-attention-heads", lambda hf, m: hf == m, _value("--num-attention-heads", int, None)),
    ("num_hidden_layers", "--num-layers", lambda hf, m: hf == m, _value("--num-layers", int, None)),
    ("intermediate_size", "--ffn-hidden-size", lambda hf, m: hf == m, _value("--ffn-hidden-size", int, None)),
    ("moe_intermediate_size", "--moe-ffn-hidden-size", lambda hf, m: hf == m,
     _value("--moe-ffn-hidden-size", int, None)),
    ("shared_expert_intermediate_size", "--moe-shared-expert-intermediate-size", lambda hf, m: hf == m,
     _value("--moe-shared-expert-intermediate-size", int, None)),
    ("tie_word_embeddings", "--untie-embeddings-and-output-weights", lambda hf, m: hf != m,
     _bare("--untie-embeddings-and-output-weights")),
    ("rms_norm_eps", "--norm-epsilon", lambda hf, m: hf == m, _value("--norm-epsilon", float, 1e-5)),
    ("rope_theta", "--rotary-base", lambda hf, m: hf == m, _value("--rotary-base", int, 10000)),
)


def hf_config_value(cfg: dict, key: str) -> object:
    """As slime reads it: rope_theta from rope_parameters when there (arguments.py:107-114)."""
    if key == "rope_theta" and isinstance(cfg.get("rope_parameters"), dict) and "rope_theta" in cfg["rope_parameters"]:
        return cfg["rope_parameters"]["rope_theta"]
    return cfg.get(key)


def _checks_dense_ffn(cfg: dict, flags: Flags) -> bool:
    """slime skips intermediate_size for an MoE config whose --moe-layer-freq has no dense layer (:49-73, :116)."""
    moe = any(k in cfg for k in ("moe_intermediate_size", "num_experts", "n_routed_experts", "num_local_experts"))
    freq = _value("--moe-layer-freq", str, None)(flags)
    return not moe or freq is None or "0" in str(freq)


def mismatches(cfg: dict, flags: Flags) -> list[tuple[str, object, str, object]]:
    """(HF key, HF value, Megatron flag, Megatron value) for every row of slime's table that disagrees."""
    out = []
    for key, flag, same, read in TABLE:
        hf = hf_config_value(cfg, key)
        if hf is None or (key == "intermediate_size" and not _checks_dense_ffn(cfg, flags)):
            continue
        if not same(hf, read(flags)):
            out.append((key, hf, flag, read(flags)))
    return out


def model_args_match_config(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    field, path = rollout_path(r)
    ck = read_checkpoint(path)
    cfg, where = (ck.config, f"{ck.path}/config.json") if ck and ck.config else (s.config, f"model {r.model.config!r}")
    flags = {a.flag: a.values for a in model_flags(s, r.model.extra_args)}  # the last of a repeated flag
    for key, hf, flag, got in mismatches(cfg, flags):
        in_extra = flag in r.model.extra_args
        yield error("model.hf-validate", "model.extra_args" if in_extra else "model.config",
                    f"{where} has {key}={hf!r} but the plan passes {flag} {got!r}: slime's start-up check "
                    "(_hf_validate_args) would abort the job",
                    hint=f"remove {flag} from model.extra_args" if in_extra else
                    f"point model.config at the checkpoint's config.json ({field}), or fix model.config_overrides",
                    source=SOURCE)


RULES = (model_args_match_config,)
