"""Conversion parameters of each mode and the `quantization_config` block each mode writes.

The parameters are the only inputs besides the source that determine the output bytes; device and
worker count do not (the CUDA path is bit-identical to the CPU path), so they are not recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recipe_runner.errors import user_error

from .jsonfile import is_int
from .rules import INT4_DEFAULT_IGNORE, check_rules

FP8_MAX = 448.0  # largest finite float8_e4m3fn value

# The values upstream consumers load; `convert` writes only these and `verify`/`inspect` accept only these.
# FP8 block dims: SGLang's Triton block-FP8 GEMM uses the block as its tile, BLOCK_SIZE_N/K = block
# (sgl-project/sglang@008601fa:python/sglang/srt/layers/quantization/fp8_kernel.py,
# w8a8_block_fp8_matmul_triton); Triton tiles are powers of two and tl.dot needs at least 16; DeepGEMM and
# every published block-FP8 checkpoint use 128. Larger tiles also make the padded slabs grow quadratically.
FP8_BLOCK_DIMS = (16, 32, 64, 128)
# INT4 group sizes: SGLang's Marlin kernels, which serve compressed-tensors WNA16 (MoE included), take
# 32, 64 and 128 (sgl-project/sglang@006d0961:python/sglang/srt/layers/quantization/marlin_utils.py:40,
# MARLIN_SUPPORTED_GROUP_SIZES; -1 is channel-wise, not group); the recipe schema allows the same three.
INT4_GROUP_SIZES = (32, 64, 128)


def check_block_size(block: object, where: str) -> tuple[int, int]:
    """Two integers from FP8_BLOCK_DIMS, or a UserError naming `where`."""
    if not (
        isinstance(block, (list, tuple)) and len(block) == 2 and all(is_int(d) and d in FP8_BLOCK_DIMS for d in block)
    ):
        raise user_error(
            where,
            f"{block!r} is not two of {', '.join(map(str, FP8_BLOCK_DIMS))}",
            rule="SGLang's block-FP8 GEMM takes the block as a Triton tile (a power of two, 16 to 128); "
            "DeepGEMM and published checkpoints use 128 x 128",
            hint="use --block-size 128 128 (what SGLang, vLLM and slime expect)",
        )
    return block[0], block[1]


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


@dataclass(frozen=True)
class Fp8Params:
    """DeepSeek-V3-style block FP8: one float32 dequant scale per [bn, bk] tile."""

    block_size: tuple[int, int] = (128, 128)

    mode = "fp8"

    def __post_init__(self) -> None:
        check_block_size(self.block_size, "--block-size")

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
        check_group_size(self.group_size, "--group-size")
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


@dataclass(frozen=True)
class Bf16Params:
    """Dequantize a block-FP8 or INT4 pack-quantized checkpoint to BF16 (`convert bf16`).

    No parameters: the source's own quantization_config says how to dequantize, and the source is
    fingerprinted in conversion.json, so nothing else determines the output bytes.
    """

    mode = "bf16"

    def to_json(self) -> dict[str, Any]:
        return {}


Params = Fp8Params | Int4Params | Bf16Params
QuantParams = Fp8Params | Int4Params  # the formats `convert bf16` reads and `convert fp8|int4` write


def params_from_json(mode: str, data: dict[str, Any]) -> Params:
    """Rebuild parameters from `conversion.json` or a launcher's dict (missing keys take defaults).

    Any malformed value (wrong type, out of bounds) is a UserError, never a TypeError.
    """
    if not isinstance(data, dict):
        raise user_error("parameters", f"{data!r} is not an object", hint="fix or delete conversion.json")
    if mode == "fp8":
        block = data.get("block_size", [128, 128])
        return Fp8Params(check_block_size(tuple(block) if isinstance(block, list) else block, "parameters.block_size"))
    if mode == "int4":
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
    if mode == "bf16":
        return Bf16Params()
    raise user_error("mode", f"unknown conversion mode {mode!r}", hint="use fp8, int4 or bf16")
