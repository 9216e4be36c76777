"""Conversion parameters of each mode and the `quantization_config` block each mode writes.

The parameters are the only inputs besides the source that determine the output bytes; device and
worker count do not (the CUDA path is bit-identical to the CPU path), so they are not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recipe_runner.errors import user_error

from .rules import INT4_DEFAULT_IGNORE, check_rules

FP8_MAX = 448.0  # largest finite float8_e4m3fn value


@dataclass(frozen=True)
class Fp8Params:
    """DeepSeek-V3-style block FP8: one float32 dequant scale per [bn, bk] tile."""

    block_size: tuple[int, int] = (128, 128)

    mode = "fp8"

    def __post_init__(self) -> None:
        if len(self.block_size) != 2 or min(self.block_size) < 1:
            raise user_error(
                "--block-size",
                f"{list(self.block_size)} is not two positive integers",
                hint="use --block-size 128 128 (what SGLang, vLLM and slime expect)",
            )

    def to_json(self) -> dict[str, Any]:
        return {"block_size": list(self.block_size)}

    def quantization_config(self, not_converted: list[str]) -> dict[str, Any]:
        """The block slime's FP8 tool writes (THUDM/slime@624b824a:tools/convert_hf_to_fp8.py:189-244)."""
        return {
            "quant_method": "fp8",
            "fmt": "e4m3",
            "activation_scheme": "dynamic",
            "weight_block_size": list(self.block_size),
            "modules_to_not_convert": sorted(set(not_converted)),
        }


@dataclass(frozen=True)
class Int4Params:
    """Symmetric INT4, one scale per group of G input columns (the only INT4 mode slime's QAT uses)."""

    group_size: int
    ignore: tuple[str, ...] = INT4_DEFAULT_IGNORE

    mode = "int4"

    def __post_init__(self) -> None:
        if self.group_size < 8 or self.group_size % 8:
            raise user_error(
                "--group-size",
                f"{self.group_size} is not a positive multiple of 8",
                rule="8 int4 codes are packed per int32 and a group must fill whole words",
                hint="use 128 (slime QAT default) or 32 (Kimi-K2); SGLang's Marlin kernels take 32, 64, 128",
            )
        check_rules(self.ignore)

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


Params = Fp8Params | Int4Params


def params_from_json(mode: str, data: dict[str, Any]) -> Params:
    """Rebuild parameters from `conversion.json` or a launcher's dict (missing keys take defaults)."""
    if mode == "fp8":
        return Fp8Params(tuple(data.get("block_size", (128, 128))))  # type: ignore[arg-type]
    if mode == "int4":
        if not data.get("symmetric", True):
            raise user_error(
                "int4",
                "asymmetric INT4 is not supported",
                hint="slime's asymmetric packing is broken (reference §6.5.1); use symmetric",
            )
        return Int4Params(int(data["group_size"]), tuple(data.get("ignore", INT4_DEFAULT_IGNORE)))
    raise user_error("mode", f"unknown conversion mode {mode!r}", hint="use fp8 or int4")
