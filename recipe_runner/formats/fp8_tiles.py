"""Block-FP8 tile arithmetic, shared by the format (fp8_block.py) and its torch math (quant/fp8.py).

A leaf module (no imports) so the math can use it while the format points to the math without a cycle.
"""

from __future__ import annotations

import math

FP8_MAX = 448.0  # largest finite float8_e4m3fn value


def scale_shape(shape: tuple[int, int], block: tuple[int, int]) -> tuple[int, int]:
    """`weight_scale_inv`'s shape: one scale per tile, partial tiles included."""
    return math.ceil(shape[0] / block[0]), math.ceil(shape[1] / block[1])
