"""Third-party dequantizers used to prove our output: the consumers' own code, not ours.

INT4: compressed-tensors' `PackedQuantizationCompressor.decompress` (>= 0.18 classmethod API).
FP8: transformers' FineGrainedFP8 `Fp8Dequantize` when installed and the weight tiles exactly (it
rejects partial tiles, checkpoint-formats.md §2.5), else compressed-tensors' `FP8BlockDequantizer`.
Each returns None when its package is missing, so verification degrades to our own dequantizer.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

Dequant = Callable[[dict[str, "torch.Tensor"]], "torch.Tensor"]


def _version(pkg: str) -> str:
    return f"{pkg} {importlib.metadata.version(pkg)}"


# The modules each conversion's reference dequantizers import (int4_reference, fp8_reference).
_REFERENCE_MODULES = {
    "int4": ("compressed_tensors.compressors", "compressed_tensors.quantization"),
    "fp8": ("transformers.integrations.finegrained_fp8", "compressed_tensors.entrypoints.convert"),
}


def modules(mode: str) -> tuple[str, ...]:
    """The modules the mode's references come from."""
    return _REFERENCE_MODULES[mode]


def int4_reference(quantization_config: dict[str, Any]) -> tuple[str, Dequant] | None:
    """Decompress `{weight_packed, weight_scale, weight_shape}` to the weight, in the scale dtype."""
    try:
        from compressed_tensors.compressors import PackedQuantizationCompressor
        from compressed_tensors.quantization import QuantizationConfig
    except ImportError:
        return None
    scheme = QuantizationConfig.model_validate(quantization_config).config_groups["group_0"]

    def dequant(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return PackedQuantizationCompressor.decompress(dict(tensors), scheme)["weight"]

    return _version("compressed-tensors"), dequant


def fp8_reference(block: tuple[int, int], shape: tuple[int, int]) -> tuple[str, Dequant] | None:
    """Dequantize `{weight, weight_scale_inv}` to float32."""
    if shape[0] % block[0] == 0 and shape[1] % block[1] == 0:
        try:
            from transformers.integrations.finegrained_fp8 import Fp8Dequantize
        except ImportError:
            pass
        else:
            op = Fp8Dequantize(hf_quantizer=None)

            def hf(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
                out = op.convert(
                    {"weight": tensors["weight"], "weight_scale_inv": tensors["weight_scale_inv"]},
                    full_layer_name="m.weight",
                )
                # 5.24 keys the result by full_layer_name, earlier 5.x by the input key; values may be lists
                weights = [v for k, v in out.items() if "scale" not in k]
                if len(weights) != 1:
                    raise RuntimeError(f"unexpected Fp8Dequantize output keys {sorted(out)}")
                return weights[0][0] if isinstance(weights[0], list) else weights[0]

            return _version("transformers") + " FineGrainedFP8", hf
    try:
        import torch
        from compressed_tensors.entrypoints.convert import FP8BlockDequantizer
    except ImportError:
        return None
    conv = FP8BlockDequantizer(targets=("Linear",), weight_block_size=block, dtype=torch.float32)

    def ct(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return conv.process({"m.weight": tensors["weight"], "m.weight_scale_inv": tensors["weight_scale_inv"]})[
            "m.weight"
        ]

    return _version("compressed-tensors") + " FP8BlockDequantizer", ct
