"""Symmetric group INT4 in compressed-tensors `pack-quantized` layout, bit-identical to slime.

Codes and scales follow slime's `fake_int4_quant_cuda` kernel as called by `pack_layer`
(THUDM/slime@624b824a:slime/backends/megatron_utils/kernels/int4_qat/fake_int4_quant_cuda.cu:327-378,
tools/convert_hf_to_int4_direct.py): float32 math, `s = max(amax * float32(1/7), 1e-5)`,
`q = round_half_even(w / s)` (so q is in [-7, 7]), scale stored in the weight dtype.
Packing is compressed-tensors' `pack_to_int32(q, 4)`: nibble i of int32 word j holds element 8j+i
as q+8 (little-endian host assumed, as safetensors itself is little-endian).
"""

from __future__ import annotations

from functools import cache

import torch

_SEVENTH = torch.tensor(1.0 / 7.0, dtype=torch.float32)  # the kernel multiplies by float32(1/7)


@cache
def _seventh(device: torch.device) -> torch.Tensor:
    """float32(1/7) on `device`, made once: a copy per slab would block the worker's stream."""
    t = _SEVENTH.to(device)
    if t.is_cuda:
        torch.cuda.current_stream(device).synchronize()  # other workers' streams use it next
    return t
_MIN_SCALE = 1e-5
_OFFSET = 8


def quantize(w: torch.Tensor, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of a 2-D weight `[n, K]` (K % group == 0) -> packed int32 `[n, K/8]`, scales `[n, K/group]`."""
    n, k = w.shape
    groups = w.float().view(n, k // group, group)
    scale = groups.abs().amax(dim=-1, keepdim=True).mul_(_seventh(w.device)).clamp_(min=_MIN_SCALE)
    codes = groups.div(scale).round_().add_(_OFFSET).to(torch.uint8).view(n, k // 2, 2)
    packed = codes[..., 0] | codes[..., 1].bitwise_left_shift(4)
    return packed.view(torch.int32), scale.view(n, k // group).to(w.dtype)


def unpack(packed: torch.Tensor, k: int) -> torch.Tensor:
    """int32 `[n, K/8]` -> int8 codes `[n, K]` in [-8, 7]."""
    b = packed.contiguous().view(torch.uint8)
    codes = torch.stack((b & 0xF, b >> 4), dim=-1).view(packed.shape[0], packed.shape[1] * 8)[:, :k]  # 0 rows too
    return codes.to(torch.int8) - _OFFSET


def dequantize(packed: torch.Tensor, scale: torch.Tensor, k: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """`float32(q) * float32(scale)`, each scale broadcast over its group, rounded to `dtype` (default: the scale
    dtype, what compressed-tensors returns; `convert bf16` asks for bfloat16, what
    THUDM/slime@624b824a:tools/convert_k2_thinking_int4_to_bf16.py:67-83 computes). The product of a 4-bit code
    and a bf16 scale is exact in float32, so compressed-tensors' bf16 arithmetic gives the same bits."""
    n, groups = scale.shape
    codes = unpack(packed, k).float().view(n, groups, k // groups)
    return (codes * scale.float().view(n, groups, 1)).view(n, k).to(dtype or scale.dtype)
