"""The checkpoint formats, one module each, and the registry that maps their names to them.

`get("fp8-block")` by the precision table's rollout format; `by_conversion("fp8")` by the converter's sub-command
(also `Params.mode` and conversion.json's `mode`); `read_quantization_config` is the one reader of a checkpoint's
quantization_config, which hands the block to the format whose quant_method it names.
Nothing outside this package branches on a format's name (tests/formats/test_registry.py scans for it).
"""

from __future__ import annotations

from typing import Any

from recipe_runner.errors import user_error

from . import bf16, fp8_block, int4_pack
from .base import REGISTRY, Format, QuantConfig, as_object, as_strings
from .bf16 import Bf16Params
from .fp8_block import Fp8Params
from .int4_pack import Int4Params

Params = Fp8Params | Int4Params | Bf16Params
QuantParams = Fp8Params | Int4Params  # the formats `convert bf16` reads and `convert fp8|int4` write

BF16: Format = bf16.FORMAT
FP8: Format = fp8_block.FORMAT
INT4: Format = int4_pack.FORMAT
FORMATS: dict[str, Format] = dict(REGISTRY)
CONVERSIONS: dict[str, Format] = {f.conversion: f for f in FORMATS.values() if f.conversion}
# Tensor-name suffixes that only a quantized checkpoint holds (a conversion source must have none).
QUANT_TENSOR_SUFFIXES = tuple(dict.fromkeys(s for f in FORMATS.values() for s in f.marker_suffixes))
QUANT_TENSOR_DTYPES = tuple(dict.fromkeys(d for f in FORMATS.values() for d in f.marker_dtypes))  # dtype prefixes


def get(name: str) -> Format:
    """The format named in the precision table ("bf16", "fp8-block", "int4-pack")."""
    return FORMATS[name]


def by_conversion(conversion: str) -> Format:
    """The format `recipe-runner convert <conversion>` writes ("fp8", "int4", "bf16")."""
    return CONVERSIONS[conversion]


def params_from_json(conversion: str, data: dict[str, Any]) -> Params:
    """Rebuild parameters from `conversion.json` or a launcher's dict (missing keys take defaults).

    Any malformed value (wrong type, out of bounds) is a UserError, never a TypeError.
    """
    if not isinstance(data, dict):
        raise user_error("parameters", f"{data!r} is not an object", hint="fix or delete conversion.json")
    if conversion not in CONVERSIONS:
        raise user_error("mode", f"unknown conversion mode {conversion!r}",
                         hint="use " + " or ".join(CONVERSIONS))
    return by_conversion(conversion).params_from_json(data)


def quantized_by_default(conversion: str, name: str, shape: tuple[int, ...]) -> bool:
    """Whether `recipe-runner convert <conversion>` with its default rules quantizes this tensor.

    The plan's convert step uses the defaults, so pre-flight asks this to refuse a conversion that would
    quantize nothing before the converter does.
    """
    return by_conversion(conversion).quantizes(name, shape, None)


def nothing_quantized(conversion: str) -> tuple[str, str]:
    """(message, rule) when `convert <conversion>` would quantize no tensor: the converter and pre-flight's words."""
    return f"no tensor would be quantized by {conversion}", by_conversion(conversion).nothing_quantized_rule


def read_quantization_config(config: dict[str, Any] | None, where: str) -> QuantConfig | None:
    """The checkpoint's quantization_config, checked; None when unquantized. `where` names config.json.

    Configs on disk may have been edited by anyone: every field a reader uses is type- and bound-checked
    here (the same checks as `convert`'s parameters), so a malformed one is one UserError naming the field.
    """
    qc = (config or {}).get("quantization_config")
    if qc is None or qc == {}:
        return None
    at = f"{where}: quantization_config"
    qc = as_object(qc, at)
    as_strings(qc.get("ignore"), f"{at}.ignore")
    as_object(qc.get("config_groups") or {}, f"{at}.config_groups")
    method = qc.get("quant_method")
    if not isinstance(method, str):
        raise user_error(f"{at}.quant_method", f"{method!r} is not a string", hint="fix config.json")
    for fmt in FORMATS.values():
        if fmt.quant_method == method:
            return fmt.read_config(qc, at)
    return QuantConfig(f"quantized ({method})", None, None, (), qc)


__all__ = ["BF16", "CONVERSIONS", "FORMATS", "FP8", "INT4", "QUANT_TENSOR_DTYPES", "QUANT_TENSOR_SUFFIXES",
           "Bf16Params", "Format", "Fp8Params", "Int4Params", "Params", "QuantConfig", "QuantParams", "by_conversion",
           "get", "nothing_quantized", "params_from_json", "quantized_by_default", "read_quantization_config"]
