"""Checkpoint rules: read the real checkpoints' config.json and safetensors index when the paths exist here.

The checkpoint passed as --hf-checkpoint decides rollout precision (THUDM/slime@624b824a:
docs/en/advanced/low-precision.md; slime/backends/megatron_utils/actor.py:176-182): a BF16 one silently
runs BF16, a stale quantization_config builds FP8 layers over BF16 weights (pain-points §1.3). Only the
stdlib is used: JSON files, and a safetensors header is an 8-byte little-endian length + JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from recipe_runner.checks.finding import Finding, error, note, warning
from recipe_runner.errors import UserError, user_error
from recipe_runner.models import ModelShape
from recipe_runner.plan import job_env_vars, rollout_checkpoint
from recipe_runner.precision import FP8_BLOCK, mode
from recipe_runner.quant.header import HeaderError, read_header
from recipe_runner.quant.rules import int4_ignored
from recipe_runner.spec import Recipe

SLIME_FP8 = "THUDM/slime@624b824a:slime/backends/megatron_utils/megatron_to_hf/processors/quantizer_fp8.py:11-15"
SLIME_INT4 = ("THUDM/slime@624b824a:slime/backends/megatron_utils/megatron_to_hf/processors/"
              "quantizer_compressed_tensors.py:268-297")
HF_VALIDATE = "THUDM/slime@624b824a:slime/backends/megatron_utils/arguments.py:97-148"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    config: dict | None  # config.json (a multimodal wrapper's text_config unwrapped)
    weights: tuple[str, ...]  # tensor names from model.safetensors.index.json, else the single file's header

    @property
    def quantization(self) -> dict | None:
        return (self.config or {}).get("quantization_config")


def read_checkpoint(path: str | Path) -> Checkpoint | None:
    """The checkpoint at `path`, or None when the directory is not here."""
    root = Path(path).expanduser()
    if not root.is_dir():
        return None
    cfg = _object(root / "config.json", _json(root / "config.json"), "config.json")
    if cfg is not None and "num_hidden_layers" not in cfg and isinstance(cfg.get("text_config"), dict):
        cfg = {**cfg["text_config"], **{k: v for k, v in cfg.items() if k == "quantization_config"}}
    if cfg is not None:
        q = _object(root / "config.json", cfg.get("quantization_config"), "quantization_config")
        ignore = q.get("ignore") or [] if q is not None else []
        if not (isinstance(ignore, list) and _strings(ignore)):
            raise _wrong_type(root / "config.json", "quantization_config.ignore", "a list of strings")
        if q is not None and not isinstance(q.get("config_groups") or {}, dict):
            raise _wrong_type(root / "config.json", "quantization_config.config_groups", "an object")
    index = _object(root / "model.safetensors.index.json", _json(root / "model.safetensors.index.json"),
                    "the index")
    if index is not None:
        weight_map = index.get("weight_map", {})
        if not isinstance(weight_map, dict) or not _strings(weight_map) or not _strings(weight_map.values()):
            raise _wrong_type(root / "model.safetensors.index.json", "weight_map", "an object of tensor name -> "
                              "file name")
        names = tuple(weight_map)
    elif (root / "model.safetensors").is_file():
        try:
            names = tuple(read_header(root / "model.safetensors").tensors)
        except HeaderError:  # a corrupt file: the converter and verify report it; here it has no weights
            names = ()
    else:
        names = ()
    return Checkpoint(root, cfg, names)


def _json(path: Path) -> object:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _object(path: Path, value: object, what: str) -> dict | None:
    """`value` when it is a JSON object (or absent); any other type is the checkpoint's error (exit 2)."""
    if value is None or isinstance(value, dict):
        return value
    raise _wrong_type(path, what, "a JSON object")


def _strings(values: Iterable[object]) -> bool:
    return all(isinstance(v, str) for v in values)


def _wrong_type(path: Path, what: str, want: str) -> UserError:
    return user_error(str(path), f"{what} is not {want}", rule="a Hugging Face checkpoint's config.json, its "
                      "quantization_config and model.safetensors.index.json have fixed shapes",
                      hint="restore the file from the checkpoint, or convert again", title="invalid checkpoint")


def rollout_path(r: Recipe) -> tuple[str, str]:
    """(field, path) of the checkpoint SGLang loads."""
    explicit = r.checkpoints.rollout or mode(r.precision.mode).conversion
    return ("checkpoints.rollout" if explicit else "checkpoints.hf"), rollout_checkpoint(r)


def paths_here(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """A note per checkpoint path that is not on this machine, so its checks did not run."""
    field, rollout = rollout_path(r)
    converted = mode(r.precision.mode).conversion and not r.checkpoints.rollout
    seen: set[str] = set()
    for where, path, what in ((field, rollout, "(the convert step creates it)" if converted else ""),
                              ("checkpoints.hf", r.checkpoints.hf, ""),
                              ("checkpoints.ref_load", r.checkpoints.ref_load, "")):
        if path in seen:  # bf16: the rollout checkpoint is checkpoints.hf itself
            continue
        seen.add(path)
        if not Path(path).expanduser().is_dir():
            rule = "checkpoint.convert-output" if what else "checkpoint.not-found"  # --strict refuses only inputs
            yield note(rule, where, f"not checked: {path} not found here {what}".rstrip())


def rollout_quantization(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    field, path = rollout_path(r)
    ck = read_checkpoint(path)
    if ck is None or ck.config is None:
        return
    fmt = mode(r.precision.mode).rollout_format
    for message, hint in FORMAT_CHECKS[fmt](r, ck):
        yield error("checkpoint.rollout-quantization", field, f"{ck.path}/config.json: {message}", hint=hint,
                    source="pain-points §1.2-1.3 (THUDM/slime#913, #1679; sgl-project/sglang#3491)")


def _expect_bf16(r: Recipe, ck: Checkpoint) -> Iterator[tuple[str, str]]:
    if ck.quantization is not None:
        yield (f"has a quantization_config ({ck.quantization.get('quant_method')}) but mode {r.precision.mode} "
               "rolls out in BF16: SGLang would build quantized layers over BF16 weights",
               "point the field at the BF16 checkpoint, or delete quantization_config from its config.json")


def _expect_fp8(r: Recipe, ck: Checkpoint) -> Iterator[tuple[str, str]]:
    q = ck.quantization
    fix = f"convert with `recipe-runner convert fp8 {r.checkpoints.hf} DST` (block {FP8_BLOCK[0]}x{FP8_BLOCK[1]})"
    if q is None:
        yield f"no quantization_config: mode {r.precision.mode} would silently roll out in BF16", fix
        return
    expected = {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": list(FP8_BLOCK)}
    for key, want in expected.items():
        if q.get(key) != want:
            yield f"quantization_config.{key} is {q.get(key)!r}, slime's FP8 quantizer needs {want!r}", fix
    if q.get("fmt", "e4m3") != "e4m3":
        yield f"quantization_config.fmt is {q['fmt']!r}, slime needs e4m3 (or no fmt)", fix
    if ck.weights and not any(n.endswith("weight_scale_inv") for n in ck.weights):
        yield "no *.weight_scale_inv tensors in the index: this is not a block-FP8 checkpoint", fix


def _expect_int4(r: Recipe, ck: Checkpoint) -> Iterator[tuple[str, str]]:
    q = ck.quantization
    g = r.precision.group_size
    fix = f"convert with `recipe-runner convert int4 {r.checkpoints.hf} DST --group-size {g}`"
    if q is None:
        yield f"no quantization_config: mode {r.precision.mode} would silently roll out in BF16", fix
        return
    w = int4_weights(q)
    expected = (("quant_method", q.get("quant_method"), "compressed-tensors"),
                ("format", q.get("format"), "pack-quantized"),
                ("config_groups.group_0.weights.num_bits", w.get("num_bits"), 4),
                ("config_groups.group_0.weights.type", w.get("type"), "int"),
                ("config_groups.group_0.weights.strategy", w.get("strategy"), "group"))
    for key, got, want in expected:
        if got != want:
            yield f"quantization_config.{key} is {got!r}, slime's INT4 packer needs {want!r}", fix


FORMAT_CHECKS = {"bf16": _expect_bf16, "fp8-block": _expect_fp8, "int4-pack": _expect_int4}


def int4_weights(q: dict) -> dict:
    group = (q.get("config_groups") or {}).get("group_0")
    weights = group.get("weights") if isinstance(group, dict) else None
    return weights if isinstance(weights, dict) else {}


def int4_checkpoint(r: Recipe) -> tuple[str, Checkpoint] | None:
    """(field, checkpoint) when the mode rolls out INT4 and the checkpoint is here with compressed-tensors."""
    if mode(r.precision.mode).rollout_format != "int4-pack":
        return None
    field, path = rollout_path(r)
    ck = read_checkpoint(path)
    if ck is None or (ck.quantization or {}).get("quant_method") != "compressed-tensors":
        return None
    return field, ck


def int4_group_size(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    found = int4_checkpoint(r)
    if found is None:
        return
    field, ck = found
    g = int4_weights(ck.quantization).get("group_size")
    if g != r.precision.group_size:
        yield error("checkpoint.int4-group-size", "precision.group_size",
                    f"{ck.path} is packed with group size {g}, the recipe says {r.precision.group_size}: "
                    "weight updates are packed with the checkpoint's group size", hint=f"set precision.group_size="
                    f"{g}, or convert again with --group-size {r.precision.group_size}", source=SLIME_INT4)
    env = job_env_vars(r).get("OPEN_TRAINING_INT4_GROUP_SIZE")
    if env is not None and env != str(g):
        yield warning("checkpoint.int4-env-group-size", "launch.env.OPEN_TRAINING_INT4_GROUP_SIZE",
                      f"OPEN_TRAINING_INT4_GROUP_SIZE={env} but {ck.path} is packed with group size {g}: "
                      "training fake-quantizes with other groups than the rollout uses",
                      hint="make them equal (32 for Kimi-K2-Thinking)",
                      source="pain-points §3.2 (radixark/miles#2478; THUDM/slime docs/en/advanced/low-precision.md)")


# Weights slime's INT4 path must leave in BF16 (THUDM/slime#1539: a packed router garbles output;
# NVIDIA-NeMo/RL#3614; THUDM/slime@624b824a:tools/convert_hf_to_int4_direct.py default ignore rules).
PROTECTED = (
    ("router", re.compile(r".*\.mlp\.gate\.weight$")),
    ("attention", re.compile(r".*\.self_attn\.")),
    ("shared experts", re.compile(r".*\.shared_experts?\.")),
    ("embeddings", re.compile(r".*embed_tokens\.")),
    ("lm_head", re.compile(r"^lm_head\.")),
)
ROUTED_EXPERT = re.compile(r".*\.experts\.\d+\.")


def packable(ck: Checkpoint) -> dict[str, bool]:
    """HF weight name -> stored packed, for every 2-D `.weight` (norms, the only 1-D weights, left out)."""
    out: dict[str, bool] = {}
    for name in ck.weights:
        base = name.removesuffix("_packed")
        if base.endswith(".weight") and "norm" not in base.rsplit(".", 2)[-2]:
            out[base] = out.get(base, False) or name.endswith("_packed")
    return out


def int4_ignore_rules(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    found = int4_checkpoint(r)
    if found is None:
        return
    field, ck = found
    rules = tuple(ck.quantization.get("ignore") or ())
    weights = packable(ck)
    quantized = {n for n, packed in weights.items() if packed or not int4_ignored(n, rules)}
    for what, pattern in PROTECTED:
        hit = sorted(n for n in quantized if pattern.match(n))
        if hit:
            yield error("checkpoint.int4-ignore", field,
                        f"{ck.path}: the INT4 ignore rules leave {len(hit)} {what} weight(s) quantized, e.g. "
                        f"{hit[0]}", hint=f"add an ignore rule for the {what} to quantization_config.ignore "
                        "(only routed experts may be INT4)", source="pain-points §1.8, §3.1 (THUDM/slime#1539)")
    if weights and not quantized:
        yield error("checkpoint.int4-nothing-quantized", field,
                    f"{ck.path}: the INT4 ignore rules exclude every weight: the rollout would run BF16",
                    hint="narrow quantization_config.ignore so routed experts are quantized",
                    source="reference §6.2 (a dense model quantizes nothing with slime's default rules)")
    skipped = sorted(n for n in weights if ROUTED_EXPERT.match(n) and n not in quantized)
    if skipped and quantized:
        yield warning("checkpoint.int4-experts-ignored", field,
                      f"{ck.path}: {len(skipped)} routed-expert weight(s) are ignored, e.g. {skipped[0]}: they "
                      "stay BF16 in the rollout while QAT trains them quantized",
                      hint="check the ignore rules for a router pattern that also swallows expert gate/up_proj",
                      source="pain-points §1.8 (volcengine/verl#7519)")


def ref_load_is_megatron(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    root = Path(r.checkpoints.ref_load).expanduser()
    if root.is_dir() and not (root / "latest_checkpointed_iteration.txt").is_file():
        hf = " (it looks like a Hugging Face checkpoint)" if (root / "config.json").is_file() else ""
        yield error("checkpoint.ref-load", "checkpoints.ref_load",
                    f"{root} has no latest_checkpointed_iteration.txt{hf}: Megatron would not load it and "
                    "training produces garbled text", hint="convert the BF16 HF checkpoint with slime's "
                    "tools/convert_hf_to_torch_dist.py and point checkpoints.ref_load at its output",
                    source="slime FAQ Q1 (THUDM/slime@624b824a:docs/en/get_started/qa.md); "
                    "THUDM/slime@624b824a:slime/utils/arguments.py:1775-1783")


def conversion_source(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """checkpoints.hf feeds the torch_dist conversion (and the rollout conversion): it must be BF16."""
    if rollout_path(r)[1] == r.checkpoints.hf:
        return  # it is also the rollout checkpoint: rollout_quantization reports it
    ck = read_checkpoint(r.checkpoints.hf)
    if ck is None or ck.config is None:
        return
    if ck.quantization is not None:
        yield error("checkpoint.conversion-source", "checkpoints.hf",
                    f"{ck.path} has a quantization_config ({ck.quantization.get('quant_method')}): the conversion "
                    "sources must be BF16", hint="use the BF16 checkpoint (Kimi-K2-Thinking: dequantize with "
                    "slime's tools/convert_k2_thinking_int4_to_bf16.py first)",
                    source="pain-points §1.4, §3.4 (radixark/miles#1530; THUDM/slime quick_start.md)")
    if ck.config.get("model_type") == "kimi_k2":
        yield error("checkpoint.conversion-model-type", "checkpoints.hf",
                    f"{ck.path}/config.json has model_type kimi_k2: slime's torch_dist conversion needs deepseek_v3",
                    hint='sed -i \'s/"model_type": "kimi_k2"/"model_type": "deepseek_v3"/\' config.json',
                    source="THUDM/slime@624b824a:docs/en/get_started/quick_start.md")


# The HF fields slime's start-up check compares with the model args (_hf_validate_args).
MODEL_FIELDS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size",
                "n_shared_experts", "tie_word_embeddings", "rms_norm_eps", "rope_theta", "vocab_size")


def model_field(cfg: dict, key: str) -> object:
    if key == "rope_theta" and "rope_theta" not in cfg:
        return (cfg.get("rope_parameters") or {}).get("rope_theta")  # THUDM/slime#1720
    if key == "tie_word_embeddings":
        return bool(cfg.get(key, False))
    return cfg.get(key)


def model_config_matches(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    seen: set[Path] = set()
    for path in dict.fromkeys((r.checkpoints.hf, rollout_path(r)[1])):
        ck = read_checkpoint(path)
        if ck is None or ck.config is None or ck.path in seen:
            continue
        seen.add(ck.path)
        diff = [(k, model_field(s.config, k), model_field(ck.config, k)) for k in MODEL_FIELDS
                if model_field(s.config, k) is not None and model_field(ck.config, k) is not None
                and model_field(s.config, k) != model_field(ck.config, k)]
        if diff:
            k, want, got = diff[0]
            rest = f" (and {len(diff) - 1} more field(s))" if len(diff) > 1 else ""
            yield error("checkpoint.model-config", "model.config",
                        f"{ck.path}/config.json has {k}={got!r}, the recipe's model {r.model.config!r} has "
                        f"{want!r}{rest}", hint=f"set model.config={ck.path} (a 2507 variant is another model)",
                        source=f"{HF_VALIDATE} (THUDM/slime#641, radixark/miles#742)")


RULES = (paths_here, rollout_quantization, int4_group_size, int4_ignore_rules, ref_load_is_megatron,
         conversion_source, model_config_matches)
