"""The torch-free CPU math (npmath) writes the same bytes as the torch path (fp8.py / int4.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recipe_runner.quant import fp8, int4, npmath
from tests.quant.test_fp8 import tricky as fp8_tricky
from tests.quant.test_int4 import tricky as int4_tricky

DTYPES = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32", torch.float64: "F64"}


def as_np(w: torch.Tensor) -> np.ndarray:
    """The weight as npmath sees it: raw bytes as read from the file, viewed as floats."""
    raw = w.contiguous().view(torch.uint8).numpy()
    return npmath.as_float(raw, DTYPES[w.dtype], tuple(w.shape))


def special(shape: tuple[int, int], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """NaN, +-Inf, signed zeros and values at e4m3 rounding ties, on top of Gaussian rows."""
    w = torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    if shape[0] >= 2 and shape[1] >= 4:
        w[0, 0], w[0, 1], w[-1, -1] = float("nan"), float("inf"), float("-inf")
        w[1, :4] = torch.tensor([-0.0, 0.0, 2.0**-10, -(2.0**-10)])
    return w.to(dtype)


def same_scales(ours: np.ndarray, dtype: str, theirs: torch.Tensor) -> bool:
    """Equal bits, except that a NaN scale (a group holding NaN) may carry another NaN payload."""
    t = theirs.contiguous()
    nan = np.isnan(npmath.as_float(ours.view(np.uint8), dtype, ours.shape)) & t.isnan().numpy()
    a, b = ours.view(np.uint8).reshape(*ours.shape, -1), t.view(torch.uint8).numpy().reshape(*ours.shape, -1)
    return bool(np.all((a == b).all(axis=-1) | nan))


def test_e4m3_table_equals_torch_for_every_class() -> None:
    """Each float32 class (top 16 bits, low bits zero or not) that reaches the cast: |x| <= 448 (callers
    clamp first; torch versions differ beyond it, saturating or giving NaN) and NaN."""
    idx = np.arange(1 << 17, dtype=np.uint32)
    top = (idx >> 1) << 16
    for low in (1, 0x8000, 0xFFFF):
        f = np.where(idx & 1, top | low, top).astype(np.uint32).view(np.float32)
        f = f[(np.abs(f) <= 448) | np.isnan(f)]
        expected = torch.from_numpy(f.copy()).to(torch.float8_e4m3fn).view(torch.uint8).numpy()
        assert np.array_equal(npmath.to_e4m3(f), expected)


@pytest.mark.parametrize("dtype", list(DTYPES), ids=str)
@pytest.mark.parametrize("shape", [(256, 384), (300, 200), (129, 127), (1, 1), (7, 1000)], ids=str)
def test_fp8_equals_torch(shape: tuple[int, int], dtype: torch.dtype) -> None:
    for w in (fp8_tricky(shape, dtype if dtype != torch.float64 else torch.float32, 0).to(dtype),
              special(shape, dtype, 1)):
        q, s = fp8.quantize(w, (128, 128))
        nq, ns = npmath.fp8_quantize(as_np(w), npmath.fp8_amax_floor(DTYPES[dtype]), (128, 128))
        assert np.array_equal(nq, q.contiguous().view(torch.uint8).numpy())
        assert same_scales(ns, "F32", s)


@pytest.mark.parametrize("dtype", list(DTYPES), ids=str)
@pytest.mark.parametrize(("shape", "group"), [((64, 256), 32), ((16, 512), 128), ((8, 192), 64)], ids=str)
def test_int4_equals_torch(shape: tuple[int, int], group: int, dtype: torch.dtype) -> None:
    base = int4_tricky(shape, dtype if dtype != torch.float64 else torch.float32, group, seed=group).to(dtype)
    for w in (base, special(shape, dtype, 2)):
        p, s = int4.quantize(w, group)
        np_p, np_s = npmath.int4_quantize(as_np(w), group, DTYPES[dtype])
        assert np.array_equal(np_p, p.numpy())
        assert same_scales(np_s, DTYPES[dtype], s)


def scales(shape: tuple[int, int], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Random magnitudes over the dtype's range, with subnormals, a huge one (overflowing products) and zero."""
    g = torch.Generator().manual_seed(seed)
    exponent = torch.rand(shape, generator=g, dtype=torch.float64).sub(0.5)
    s = torch.randn(shape, generator=g, dtype=torch.float64).abs() * torch.finfo(dtype).max ** exponent
    special = torch.tensor([torch.finfo(dtype).tiny / 4, torch.finfo(dtype).max, 0.0], dtype=torch.float64)
    s.view(-1)[:3] = special[: s.numel()]
    return s.to(dtype)


@pytest.mark.parametrize("shape", [(256, 384), (300, 200), (129, 127), (1, 1)], ids=str)
def test_fp8_dequantize_equals_torch(shape: tuple[int, int]) -> None:
    """Every e4m3 byte (NaN included) times float32 tile scales, whole and partial tiles."""
    q = torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    q.view(-1)[: min(256, q.numel())] = torch.arange(min(256, q.numel()), dtype=torch.uint8)
    s = scales(fp8.scale_shape(shape, (128, 128)), torch.float32, 4)
    expected = fp8.dequantize(q.view(torch.float8_e4m3fn), s, (128, 128)).numpy()
    ours = npmath.fp8_dequantize(q.numpy(), s.numpy(), (128, 128))
    assert np.array_equal(ours, expected, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32], ids=str)
def test_int4_dequantize_equals_torch(dtype: torch.dtype) -> None:
    """Every packed byte times group scales over the dtype's range, rounded to the scale dtype."""
    n, k, group = 64, 512, 32
    g = torch.Generator().manual_seed(5)
    packed = torch.randint(-(2**31), 2**31 - 1, (n, k // 8), generator=g, dtype=torch.int32)
    packed.view(torch.uint8)[0, :256] = torch.arange(256, dtype=torch.uint8)
    s = scales((n, k // group), dtype, 6)
    expected = int4.dequantize(packed, s, k).float().numpy()
    raw = s.contiguous().view(torch.uint8).numpy()
    values = npmath.as_float(raw, DTYPES[dtype], tuple(s.shape))
    ours = npmath.int4_dequantize(packed.view(torch.uint8).numpy(), values, DTYPES[dtype])
    assert np.array_equal(ours, expected)
