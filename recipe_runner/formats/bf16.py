"""BF16: the unquantized Hugging Face checkpoint, the format training always loads and conversions start from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Format, register


class Bf16(Format):
    name = "bf16"

    def rollout_problems(self, qc: dict[str, Any] | None, names: tuple[str, ...], mode: str,
                         fix: str) -> Iterator[tuple[str, str]]:
        if qc is not None:
            yield (f"has a quantization_config ({qc.get('quant_method')}) but mode {mode} rolls out in BF16: "
                   "SGLang would build quantized layers over BF16 weights",
                   "point the field at the BF16 checkpoint, or delete quantization_config from its config.json")


FORMAT = register(Bf16())
