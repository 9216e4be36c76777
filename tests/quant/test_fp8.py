"""Block FP8 bits against an independent tile-by-tile evaluation of slime's `block_fp8` formula."""

from __future__ import annotations

import pytest
import torch

from recipe_runner.quant import fp8, reference

E4M3 = torch.float8_e4m3fn


def upstream_block_fp8(w: torch.Tensor, bn: int, bk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """THUDM/slime@624b824a:tools/convert_hf_to_fp8.py:41-75 as formulas, one tile at a time."""
    n, k = w.shape
    nb, kb = -(-n // bn), -(-k // bk)
    padded = torch.zeros(nb * bn, kb * bk, dtype=w.dtype)
    padded[:n, :k] = w
    q = torch.empty(nb * bn, kb * bk, dtype=E4M3)
    s = torch.empty(nb, kb, dtype=torch.float32)
    for i in range(nb):
        for j in range(kb):
            tile = padded[i * bn : (i + 1) * bn, j * bk : (j + 1) * bk]
            scale = tile.abs().max().clamp(min=1e-12).float() / 448.0
            # upstream divides the weight by a float32 scale tensor: the division runs in float32
            q[i * bn : (i + 1) * bn, j * bk : (j + 1) * bk] = (tile.float() / scale).clamp(-448.0, 448.0).to(E4M3)
            s[i, j] = scale
    return q[:n, :k], s


def tricky(shape: tuple[int, int], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Gaussian rows mixed with all-zero tiles, tiny and huge magnitudes and exact powers of two."""
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g)
    big = 1e4 if dtype == torch.float16 else 1e30
    tiny = 1e-7 if dtype == torch.float16 else 1e-30
    w[: min(128, shape[0]), : min(128, shape[1])] = 0  # an all-zero tile (or the whole of a small weight)
    w[-1, :] *= big
    if shape[0] > 2:
        w[-2, :] *= tiny
        w[-3, -5:] = torch.tensor([448.0, -448.0, 0.5, 2.0**-9, -(2.0**-10)])[-min(5, shape[1]) :]
    return w.to(dtype)


SHAPES = [(256, 384), (300, 200), (129, 127), (1, 1), (7, 1000), (128, 1)]
DTYPES = [torch.bfloat16, torch.float32, torch.float16]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_bit_identical_to_upstream_formula(shape: tuple[int, int], dtype: torch.dtype) -> None:
    w = tricky(shape, dtype, seed=sum(shape))
    q, s = fp8.quantize(w, (128, 128))
    q_ref, s_ref = upstream_block_fp8(w, 128, 128)
    assert q.shape == shape and s.shape == fp8.scale_shape(shape, (128, 128))
    assert s.dtype == torch.float32 and q.dtype == E4M3
    if dtype == torch.float16:
        # fp16 cannot hold 1e-12: upstream's all-zero tiles get scale 0 and NaN codes; ours stay finite.
        zero = s_ref == 0
        assert torch.equal(s[zero], torch.full_like(s[zero], 1e-12 / 448.0))
        in_zero_tile = zero.repeat_interleave(128, 0).repeat_interleave(128, 1)[: shape[0], : shape[1]]
        assert not q.float()[in_zero_tile].any()
        s_ref = torch.where(zero, s, s_ref)
        q_ref = torch.where(in_zero_tile, q.float(), q_ref.float()).to(E4M3)
    assert torch.equal(s, s_ref)
    assert torch.equal(q.view(torch.uint8), q_ref.view(torch.uint8))


def test_zero_tile_dequantizes_to_zero_and_no_nan() -> None:
    """slime tests/test_block_fp8_zero_block.py: all-zero tiles give finite scales and exact zeros."""
    w = torch.zeros(256, 256, dtype=torch.bfloat16)
    w[0, 0] = 1
    q, s = fp8.quantize(w, (128, 128))
    assert torch.isfinite(s).all() and (s > 0).all()
    deq = fp8.dequantize(q, s, (128, 128))
    assert torch.isfinite(deq).all() and deq[128:, 128:].abs().max() == 0


def test_slabs_of_whole_tiles_give_the_same_bits() -> None:
    w = tricky((640, 300), torch.bfloat16, seed=3)
    q, s = fp8.quantize(w, (128, 128))
    parts = [fp8.quantize(w[r : r + 256], (128, 128)) for r in range(0, 640, 256)]
    assert torch.equal(q.view(torch.uint8), torch.cat([p[0] for p in parts]).view(torch.uint8))
    assert torch.equal(s, torch.cat([p[1] for p in parts]))


def test_non_default_block() -> None:
    w = tricky((200, 100), torch.bfloat16, seed=5)
    q, s = fp8.quantize(w, (64, 32))
    q_ref, s_ref = upstream_block_fp8(w, 64, 32)
    assert torch.equal(s, s_ref) and torch.equal(q.view(torch.uint8), q_ref.view(torch.uint8))


@pytest.mark.parametrize("shape", [(256, 384), (300, 200)], ids=str)
def test_dequantization_matches_consumers(shape: tuple[int, int]) -> None:
    """transformers FineGrainedFP8 (128-aligned) or compressed-tensors FP8BlockDequantizer (partial tiles)."""
    w = tricky(shape, torch.bfloat16, seed=11)
    w[-1] = w[-2] = 0.01  # keep the comparison in a normal range
    q, s = fp8.quantize(w, (128, 128))
    ref = reference.fp8_reference((128, 128), shape)
    assert ref is not None
    aligned = shape[0] % 128 == 0 and shape[1] % 128 == 0
    assert ("FineGrainedFP8" in ref[0]) == aligned
    assert torch.equal(ref[1]({"weight": q, "weight_scale_inv": s}), fp8.dequantize(q, s, (128, 128)))
