"""Symmetric group INT4 in compressed-tensors `pack-quantized` layout (checkpoint-formats.md §0, §1): per
quantized linear `<mod>.weight_packed` int32 `[N, K/8]`, `<mod>.weight_scale` `[N, K/G]` in the weight dtype,
`<mod>.weight_shape` int64 `(N, K)`.

Only routed experts are quantized (slime's default ignore rules, the KEEP table below). The math (slime's
kernel conventions, bit-identical) lives in quant/int4.py (torch) and quant/npmath.py (numpy).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recipe_runner.errors import user_error
from recipe_runner.quant.jsonfile import is_int

from .base import (
    SCALE_DTYPES,
    DequantModule,
    Entry,
    Format,
    QuantConfig,
    as_object,
    as_strings,
    module_name,
    quantizable,
    register,
)

if TYPE_CHECKING:
    import torch

    from recipe_runner.quant.dequant_plan import SourceTensors
    from recipe_runner.quant.header import TensorInfo

# INT4 group sizes: SGLang's Marlin kernels, which serve compressed-tensors WNA16 (MoE included), take
# 32, 64 and 128 (sgl-project/sglang@006d0961:python/sglang/srt/layers/quantization/marlin_utils.py:40,
# MARLIN_SUPPORTED_GROUP_SIZES; -1 is channel-wise, not group); the recipe schema allows the same three.
INT4_GROUP_SIZES = (32, 64, 128)
SHAPE_DTYPES = {"I64": "<2q", "I32": "<2i"}  # `weight_shape`: compressed-tensors writes int64, slime int32 (struct)


@dataclass(frozen=True)
class Keep:
    """One kind of weight INT4 leaves in BF16."""

    what: str
    ignore_rule: str  # slime's default `--ignore-rules` entry (compressed-tensors `ignore`, re.match)
    required: str | None  # names a rollout checkpoint must keep unquantized (pre-flight), None: either is fine


# THE keep rules. Ignore rules: THUDM/slime@624b824a:tools/convert_hf_to_int4_direct.py:285-307 (`--ignore-rules`
# default, in this order): only routed experts are quantized. Required: a packed router garbles output
# (THUDM/slime#1539; SGLang skips it: all-zero routing), and attention, shared experts (Qwen2-MoE's singular
# `shared_expert` too), embeddings and lm_head have no INT4 path in slime's rollout (NVIDIA-NeMo/RL#3614).
KEEP = (
    Keep("lm_head", "re:.*lm_head.*", r"^lm_head\."),
    Keep("norms", "re:.*norm.*", None),
    Keep("embeddings", "re:.*embed.*", r".*embed_tokens\."),
    Keep("attention", "re:.*self_attn.*", r".*\.self_attn\."),
    Keep("shared experts", "re:.*shared_experts.*", r".*\.shared_experts?\."),
    Keep("dense MLP", r"re:.*mlp\.(gate|up|gate_up|down)_proj.*", None),
    Keep("router", r"re:.*mlp\.gate\.*", r".*\.mlp\.gate\.weight$"),
)
INT4_DEFAULT_IGNORE = tuple(k.ignore_rule for k in KEEP)
_CHECK_ORDER = ("router", "attention", "shared experts", "embeddings", "lm_head")
PROTECTED = tuple((k.what, re.compile(k.required)) for w in _CHECK_ORDER for k in KEEP if k.what == w and k.required)
ROUTED_EXPERT = re.compile(r".*\.experts\.\d+\.")


def check_group_size(group: object, where: str) -> int:
    """One of INT4_GROUP_SIZES, or a UserError naming `where`."""
    if not (is_int(group) and group in INT4_GROUP_SIZES):
        raise user_error(
            where,
            f"{group!r} is not one of {', '.join(map(str, INT4_GROUP_SIZES))}",
            rule="SGLang's Marlin INT4 kernels take group sizes 32, 64 and 128 (and 8 int4 codes fill an int32)",
            hint="use 128 (slime QAT default) or 32 (Kimi-K2)",
        )
    return group  # type: ignore[return-value]


def check_rules(rules: tuple[str, ...], where: str = "--ignore") -> None:
    """Reject a rule that is not a string or a `re:` rule that is not a valid regex before any work starts."""
    for rule in rules:
        if not isinstance(rule, str):
            raise user_error(where, f"rule {rule!r} is not a string", hint="write each rule as a string")
        if rule.startswith("re:"):
            try:
                re.compile(rule[3:])
            except re.error as e:
                raise user_error(
                    where,
                    f"{rule!r} is not a valid regular expression ({e})",
                    rule="a rule is an exact tensor-name prefix or `re:<regex>` (matched from the start)",
                    hint="escape dots as \\. and check brackets",
                ) from e
        elif not rule:
            raise user_error(where, "an empty rule ignores every tensor", hint="drop the empty rule")


def int4_ignored(name: str, rules: tuple[str, ...]) -> bool:
    """slime's match (tools/convert_hf_to_int4_direct.py:181-190): `re:` + re.match, equality, or prefix."""
    for rule in rules:
        if rule.startswith("re:"):
            if re.match(rule[3:], name):
                return True
        elif name == rule or name.startswith(rule):
            return True
    return False


def int4_quantizes(name: str, shape: tuple[int, ...], rules: tuple[str, ...]) -> bool:
    return quantizable(name, shape) and not int4_ignored(name, rules)


def is_router(name: str) -> bool:
    """MoE routers: HF `mlp.gate.weight` (Qwen3-MoE, DeepSeek-V3) or any `router` tensor.

    A packed router is silently skipped by SGLang (all-zero routing, slime docs/en/developer_guide/debug.md).
    """
    return name.endswith("mlp.gate.weight") or "router" in name


def packable(names: tuple[str, ...]) -> dict[str, bool]:
    """HF weight name -> stored packed, for every 2-D `.weight` (norms, the only 1-D weights, left out)."""
    out: dict[str, bool] = {}
    for name in names:
        base = name.removesuffix("_packed")
        if base.endswith(".weight") and "norm" not in base.rsplit(".", 2)[-2]:
            out[base] = out.get(base, False) or name.endswith("_packed")
    return out


def scheme_weights(qc: dict[str, Any], where: str) -> dict[str, Any]:
    """`config_groups.group_0.weights` of a compressed-tensors config ({} when absent), each level an object."""
    groups = as_object(qc.get("config_groups") or {}, f"{where}.config_groups")
    group = as_object(groups.get("group_0") or {}, f"{where}.config_groups.group_0")
    return as_object(group.get("weights") or {}, f"{where}.config_groups.group_0.weights")


@dataclass(frozen=True)
class Int4Params:
    """Symmetric INT4, one scale per group of G input columns (the only INT4 mode slime's QAT uses)."""

    group_size: int
    ignore: tuple[str, ...] = INT4_DEFAULT_IGNORE

    mode = "int4"

    def __post_init__(self) -> None:
        check_group_size(self.group_size, "--group-size")
        check_rules(self.ignore)

    @property
    def format(self) -> Int4Pack:
        return FORMAT

    def to_json(self) -> dict[str, Any]:
        return {"group_size": self.group_size, "symmetric": True, "ignore": list(self.ignore)}

    def quantization_config(self) -> dict[str, Any]:
        """compressed-tensors `pack-quantized`, the block slime writes
        (THUDM/slime@624b824a:tools/convert_hf_to_int4_direct.py:242-274) with `symmetric: true`."""
        weights = {
            "actorder": None, "block_structure": None, "dynamic": False, "group_size": self.group_size,
            "num_bits": 4, "observer": "minmax", "observer_kwargs": {}, "strategy": "group",
            "symmetric": True, "type": "int",
        }  # fmt: skip
        return {
            "config_groups": {"group_0": {
                "input_activations": None, "output_activations": None,
                "targets": ["Linear"], "weights": weights,
            }},
            "format": "pack-quantized",
            "ignore": list(self.ignore),
            "kv_cache_scheme": None,
            "quant_method": "compressed-tensors",
            "quantization_status": "compressed",
        }  # fmt: skip


class Int4Pack(Format):
    name = "int4-pack"
    conversion = "int4"
    quant_method = "compressed-tensors"
    marker_suffixes = ("weight_scale", "weight_packed", "weight_zero_point")
    aux_suffixes = (".weight_scale", ".weight_shape", ".weight_zero_point")
    scale_role = "weight_scale"
    dequant_rule = "INT4 `weight_packed` [N, K/8] + `weight_scale` [N, K/G] + `weight_shape` (N, K)"
    estimate_quantizes = ("experts",)  # routed experts only (KEEP)
    nothing_quantized_rule = "the default ignore rules keep everything but routed experts"

    def bytes_per_param(self, group_size: int) -> float:
        return 0.5 + 2 / group_size

    def params_from_json(self, data: dict[str, Any]) -> Int4Params:
        if data.get("symmetric", True) is not True:
            raise user_error(
                "int4",
                "asymmetric INT4 is not supported",
                hint="slime's asymmetric packing is broken (reference §6.5.1); use symmetric",
            )
        ignore = data.get("ignore", list(INT4_DEFAULT_IGNORE))
        if not (isinstance(ignore, list) and all(isinstance(r, str) for r in ignore)):
            raise user_error("parameters.ignore", f"{ignore!r} is not a list of strings", hint="fix conversion.json")
        return Int4Params(check_group_size(data.get("group_size"), "parameters.group_size"), tuple(ignore))

    def read_config(self, qc: dict[str, Any], where: str) -> QuantConfig:
        w = scheme_weights(qc, where)
        fmt = qc.get("format")
        sym = "symmetric" if w.get("symmetric") is True else "asymmetric"
        text = f"compressed-tensors {fmt} int{w.get('num_bits')} group {w.get('group_size')} {sym}"
        ours = (fmt, w.get("num_bits"), w.get("type", "int"), w.get("strategy"), w.get("symmetric"))
        if ours != ("pack-quantized", 4, "int", "group", True):
            return QuantConfig(text, self, None, (), qc)
        group = check_group_size(w.get("group_size"), f"{where}.config_groups.group_0.weights.group_size")
        ignore = as_strings(qc.get("ignore"), f"{where}.ignore")
        check_rules(ignore, f"{where}.ignore")
        return QuantConfig(text, self, Int4Params(group, ignore), (), qc)

    def quantizes(self, name: str, shape: tuple[int, ...], params: Int4Params | None) -> bool:
        return int4_quantizes(name, shape, params.ignore if params is not None else INT4_DEFAULT_IGNORE)

    def check_quantized(self, name: str, shape: tuple[int, ...], params: Int4Params) -> None:
        if is_router(name):
            raise user_error(
                name,
                "is a MoE router and the INT4 ignore rules would quantize it",
                rule="routers stay in high precision (SGLang skips a packed router: all-zero routing)",
                hint="add an ignore rule for it, e.g. --ignore 're:.*mlp\\.gate\\..*'",
            )
        if shape[1] % params.group_size:
            raise user_error(
                name,
                f"input dim {shape[1]} is not a multiple of --group-size {params.group_size}",
                rule="INT4 groups run along the input dim and must tile it exactly",
                hint="pick a group size that divides every quantized weight's input dim, or ignore it",
            )

    def outputs(self, name: str, dtype: str, shape: tuple[int, ...], params: Int4Params) -> list[Entry]:
        base, (n, k) = module_name(name), shape
        return [
            (f"{base}.weight_packed", "I32", (n, k // 8)),
            (f"{base}.weight_scale", dtype, (n, k // params.group_size)),
            (f"{base}.weight_shape", "I64", (2,)),
        ]

    def quantization_config(self, params: Int4Params, kept: tuple[str, ...]) -> dict[str, Any]:
        return params.quantization_config()

    def quantized_base(self, name: str, dtype: str, shape: tuple[int, ...]) -> str | None:
        return name.removesuffix(".weight_packed") if name.endswith(".weight_packed") else None

    def module_parts(self, base: str) -> dict[str, str]:
        return {r: f"{base}.{r}" for r in ("weight_packed", "weight_scale", "weight_shape")}

    def dequant_module(self, source: SourceTensors, t: TensorInfo, params: Int4Params) -> DequantModule | None:
        """A symmetric module: int32 words, `weight_shape` (read here) fitting them, groups tiling K."""
        base = self.quantized_base(t.name, t.dtype, t.shape)
        if base is None:
            return None
        if t.dtype != "I32" or len(t.shape) != 2:
            raise source.bad(t.name, f"is {t.dtype} {list(t.shape)}, not a 2-D int32 [N, K/8] tensor",
                             rule="pack-quantized INT4 packs 8 codes per int32 along the input dim")
        for clash in (f"{base}.weight", f"{base}.weight_zero_point"):
            if clash in source:
                raise source.bad(clash, f"sits beside {t.name}",
                                 rule="a symmetric INT4 module has weight_packed, weight_scale and weight_shape only "
                                      "(a zero point means asymmetric INT4, which is not supported)")
        names = self.module_parts(base)
        shape_part = source.companion(t, "weight_shape", names["weight_shape"], tuple(SHAPE_DTYPES), (2,))
        shape = struct.unpack(SHAPE_DTYPES[shape_part.info.dtype], source.read(shape_part))
        n, packed_cols = t.shape
        if shape[0] != n or shape[1] <= 0 or -(-shape[1] // 8) != packed_cols:
            raise source.bad(shape_part.info.name,
                             f"holds {list(shape)}, which does not fit {t.name} {list(t.shape)} (N, ceil(K/8))")
        k, g = shape[1], params.group_size
        if k % g:
            raise source.bad(t.name, f"has input dim {k}, not a multiple of the group size {g}",
                             rule="groups must tile the input dim (compressed-tensors' decompressor refuses it too)",
                             hint="check quantization_config.config_groups.group_0.weights.group_size")
        role = self.scale_role
        scale = source.companion(t, role, names[role], SCALE_DTYPES, (n, k // g))
        return DequantModule(base, (n, k), (scale, shape_part))

    def slab(self, read: Callable[[str, int, int], torch.Tensor], r0: int, r1: int,
             params: Int4Params) -> dict[str, torch.Tensor]:
        import torch

        packed = read("weight_packed", r0, r1)
        return {"weight_packed": packed, "weight_scale": read("weight_scale", r0, r1),
                "weight_shape": torch.tensor([r1 - r0, packed.shape[1] * 8])}

    def dequantize(self, parts: dict[str, torch.Tensor], params: Int4Params | None) -> torch.Tensor:
        """`q * weight_scale` per group, in the scale dtype (quant/int4.py, what compressed-tensors does);
        K comes from the packed width (`weight_shape` is checked against it separately)."""
        from recipe_runner.quant import int4

        packed = parts["weight_packed"]
        return int4.dequantize(packed, parts["weight_scale"], packed.shape[1] * 8)

    def rollout_problems(self, qc: dict[str, Any] | None, names: tuple[str, ...], mode: str,
                         fix: str) -> Iterator[tuple[str, str]]:
        if qc is None:
            yield f"no quantization_config: mode {mode} would silently roll out in BF16", fix
            return
        w = scheme_weights(qc, "quantization_config")
        expected = (("quant_method", qc.get("quant_method"), "compressed-tensors"),
                    ("format", qc.get("format"), "pack-quantized"),
                    ("config_groups.group_0.weights.num_bits", w.get("num_bits"), 4),
                    ("config_groups.group_0.weights.type", w.get("type"), "int"),
                    ("config_groups.group_0.weights.strategy", w.get("strategy"), "group"))
        for key, got, want in expected:
            if got != want:
                yield f"quantization_config.{key} is {got!r}, slime's INT4 packer needs {want!r}", fix

    def conversion_hint(self, src: str, group_size: int) -> str:
        return f"convert with `recipe-runner convert int4 {src} DST --group-size {group_size}`"


FORMAT = register(Int4Pack())
