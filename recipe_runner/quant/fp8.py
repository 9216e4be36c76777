"""Block FP8 (e4m3) quantization, bit-identical to slime's offline `block_fp8`.

THUDM/slime@624b824a:tools/convert_hf_to_fp8.py:41-75, as formulas: zero-pad to whole tiles; per tile
`scale = float32(clamp(amax, min=1e-12)) / 448` (the clamp happens in the weight dtype); then
`q = e4m3(clamp(w / scale, -448, 448))` with the division in the promoted dtype (float32 for
bf16/fp16/fp32). Working on row slabs of whole tiles keeps temporaries in cache and gives the same
bits, since every element's arithmetic is unchanged.
"""

from __future__ import annotations

from functools import cache

import torch

from recipe_runner.formats.fp8_tiles import FP8_MAX, scale_shape

_EPS = 1e-12  # slime's clamp on the tile amax (fix dd4851f2: all-zero tiles no longer give NaN)


def amax_floor(dtype: torch.dtype) -> float:
    """1e-12 as rounded to the weight dtype, because upstream clamps before the float32 cast.

    fp16 cannot hold 1e-12 (it flushes to 0 and upstream then divides 0 by 0 on an all-zero tile);
    there we keep 1e-12 in float32. No fp16 amax lies in (0, 1e-12), so only all-zero tiles differ.
    """
    floor = torch.tensor(_EPS, dtype=dtype).item()
    return floor if floor > 0 else _EPS


@cache
def _fp8_max(device: torch.device) -> torch.Tensor:
    """448 as a tensor on `device`, made once: a fresh one per slab would be a blocking host copy."""
    t = torch.tensor(FP8_MAX, device=device)
    if t.is_cuda:
        torch.cuda.current_stream(device).synchronize()  # other workers' streams use it next
    return t


def quantize(w: torch.Tensor, block: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize rows of a 2-D weight; returns e4m3 `[n, K]` and float32 scales `[ceil(n/bn), ceil(K/bk)]`.

    Callers pass slabs whose row count is a multiple of bn (except the last), so tiles never straddle slabs.
    """
    n, k = w.shape
    bn, bk = block
    nb, kb = scale_shape((n, k), block)
    if (nb * bn, kb * bk) != (n, k):
        w = torch.nn.functional.pad(w, (0, kb * bk - k, 0, nb * bn - n))
    tiles = w.view(nb, bn, kb, bk)
    amax = tiles.abs().amax(dim=(1, 3), keepdim=True)
    # Divide by a tensor, not a Python number: CUDA turns division by a CPU scalar into multiplication
    # by its reciprocal, which differs in the last bit; a device tensor gives true division everywhere.
    scale = amax.float().clamp_(min=amax_floor(w.dtype)).div_(_fp8_max(w.device))
    q = (tiles / scale).clamp_(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
    return q.view(nb * bn, kb * bk)[:n, :k], scale.view(nb, kb)


def dequantize(q: torch.Tensor, scale: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """float32 `q * scale` with each scale broadcast over its tile (DeepSeek `weight_dequant`)."""
    n, k = q.shape
    bn, bk = block
    nb, kb = scale.shape
    if (nb * bn, kb * bk) == (n, k):  # whole tiles: broadcast in place of a full-size scale tensor
        return (q.float().view(nb, bn, kb, bk) * scale.view(nb, 1, kb, 1)).view(n, k)
    full = scale.repeat_interleave(bn, dim=0)[:n].repeat_interleave(bk, dim=1)[:, :k]
    return q.float() * full


def dequantize_bf16(q: torch.Tensor, scale: torch.Tensor, block: tuple[int, int]) -> torch.Tensor:
    """The BF16 weight `convert bf16` writes: `bf16(float32(q) * float32(scale))`, rounded to nearest even.

    THUDM/slime@624b824a:tools/fp8_cast_bf16.py:25-28 multiplies in float32 and stores into a tensor of the
    default dtype, set to bfloat16 at line 45; our tiles follow the config's block size where its kernel
    hard-codes 128 (line 31), the same for 128x128 checkpoints.
    """
    return dequantize(q, scale.float(), block).to(torch.bfloat16)
