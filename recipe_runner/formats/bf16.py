"""BF16: the unquantized Hugging Face checkpoint, the format training always loads and conversions start from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .base import Format, register


@dataclass(frozen=True)
class Bf16Params:
    """Dequantize a block-FP8 or INT4 pack-quantized checkpoint to BF16 (`convert bf16`).

    No parameters: the source's own quantization_config says how to dequantize, and the source is
    fingerprinted in conversion.json, so nothing else determines the output bytes.
    """

    mode = "bf16"

    @property
    def format(self) -> Bf16:
        return FORMAT

    def to_json(self) -> dict[str, Any]:
        return {}


class Bf16(Format):
    name = "bf16"
    conversion = "bf16"

    def params_from_json(self, data: dict[str, Any]) -> Bf16Params:
        return Bf16Params()

    def rollout_problems(self, qc: dict[str, Any] | None, names: tuple[str, ...], mode: str,
                         fix: str) -> Iterator[tuple[str, str]]:
        if qc is not None:
            yield (f"has a quantization_config ({qc.get('quant_method')}) but mode {mode} rolls out in BF16: "
                   "SGLang would build quantized layers over BF16 weights",
                   "point the field at the BF16 checkpoint, or delete quantization_config from its config.json")


FORMAT = register(Bf16())
