"""The one reader of a checkpoint's `quantization_config`, with the rules the converter writes by.

`verify` and `inspect` read configs from disk that anyone may have edited; every field they use is
type- and bound-checked here (the same `check_block_size` / `check_group_size` / `check_rules` as
`convert`), so a malformed config is one UserError naming the field, never a traceback later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recipe_runner.errors import user_error

from .params import Fp8Params, Int4Params, Params, check_block_size, check_group_size
from .rules import check_rules


@dataclass(frozen=True)
class QuantConfig:
    """What a quantization_config says: `params` for the two formats we write, else None."""

    description: str  # e.g. "fp8 e4m3 block 128x128", "compressed-tensors pack-quantized int4 group 32 symmetric"
    params: Params | None
    not_converted: tuple[str, ...]  # fp8 `modules_to_not_convert`
    raw: dict[str, Any]


def _object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise user_error(where, f"is {type(value).__name__} {value!r}, not an object", hint="fix config.json")
    return value


def _strings(value: object, where: str) -> tuple[str, ...]:
    """None/absent or a list of strings."""
    if value is None:
        return ()
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise user_error(where, f"{value!r} is not a list of strings", hint="fix config.json")
    return tuple(value)


def _fp8(qc: dict[str, Any], where: str) -> QuantConfig:
    not_converted = _strings(qc.get("modules_to_not_convert"), f"{where}.modules_to_not_convert")
    block = qc.get("weight_block_size")
    if block is None:
        return QuantConfig("fp8 e4m3 (per-tensor)", None, not_converted, qc)
    bn, bk = check_block_size(block, f"{where}.weight_block_size")
    return QuantConfig(f"fp8 e4m3 block {bn}x{bk}", Fp8Params((bn, bk)), not_converted, qc)


def _compressed_tensors(qc: dict[str, Any], where: str) -> QuantConfig:
    groups = _object(qc.get("config_groups") or {}, f"{where}.config_groups")
    w = _object(_object(groups.get("group_0") or {}, f"{where}.config_groups.group_0").get("weights") or {},
                f"{where}.config_groups.group_0.weights")
    fmt = qc.get("format")
    sym = "symmetric" if w.get("symmetric") is True else "asymmetric"
    text = f"compressed-tensors {fmt} int{w.get('num_bits')} group {w.get('group_size')} {sym}"
    ours = (fmt, w.get("num_bits"), w.get("type", "int"), w.get("strategy"), w.get("symmetric"))
    if ours != ("pack-quantized", 4, "int", "group", True):
        return QuantConfig(text, None, (), qc)
    group = check_group_size(w.get("group_size"), f"{where}.config_groups.group_0.weights.group_size")
    ignore = _strings(qc.get("ignore"), f"{where}.ignore")
    check_rules(ignore, f"{where}.ignore")
    return QuantConfig(text, Int4Params(group, ignore), (), qc)


def read_quantization_config(config: dict[str, Any] | None, where: str) -> QuantConfig | None:
    """The checkpoint's quantization_config, checked; None when unquantized. `where` names config.json."""
    qc = (config or {}).get("quantization_config")
    if qc is None or qc == {}:
        return None
    qc = _object(qc, f"{where}: quantization_config")
    method = qc.get("quant_method")
    if not isinstance(method, str):
        raise user_error(f"{where}: quantization_config.quant_method", f"{method!r} is not a string",
                         hint="fix config.json")
    if method == "fp8":
        return _fp8(qc, f"{where}: quantization_config")
    if method == "compressed-tensors":
        return _compressed_tensors(qc, f"{where}: quantization_config")
    return QuantConfig(f"quantized ({method})", None, (), qc)
