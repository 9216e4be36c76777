"""The CPU converter's math in numpy: bit-identical to fp8.py / int4.py (torch), without importing torch.

Why: on the H200 machine `import torch` alone takes 4.5-6.4 s, longer than converting 8 GiB, and the CPU
path needs none of torch's kernels. Every step below is the torch path's formula with the same IEEE
float32 operations (true division, round half to even); tests/quant/test_npmath.py compares the bytes
with fp8.quantize / int4.quantize on tricky inputs (zero tiles, ties, subnormals, huge, NaN, Inf).

float32 -> e4m3fn uses torch's own algorithm (c10/util/Float8_e4m3fn.h, `fp8e4m3fn_from_fp32_value`),
evaluated once per class into a 2^17-entry table: the result depends only on a value's top 16 bits
and on whether any of its low 16 bits is set (the rounding bit sits at bit 19 or above, so the low
bits only decide ties), and one table lookup is the cheapest exact conversion numpy has.
"""

from __future__ import annotations

from functools import cache

import numpy as np

FP8_MAX = np.float32(448.0)
_EPS = 1e-12  # slime's clamp on the FP8 tile amax, see fp8.py
_SEVENTH = np.float32(1.0 / 7.0)  # slime's INT4 kernel multiplies by float32(1/7), see int4.py
_MIN_SCALE = np.float32(1e-5)
_OFFSET = 8
NP_DTYPES = {"BF16": np.dtype(np.uint16), "F16": np.dtype(np.float16), "F32": np.dtype(np.float32),
             "F64": np.dtype(np.float64)}  # fmt: skip


def as_float(raw: np.ndarray, dtype: str, shape: tuple[int, int]) -> np.ndarray:
    """Source bytes -> float32 values (float64 for an F64 source, as torch promotes it)."""
    if dtype == "BF16":
        wide = np.left_shift(raw.view(np.uint16), 16, dtype=np.uint32, casting="unsafe")
        return wide.view(np.float32).reshape(shape)
    x = raw.view(NP_DTYPES[dtype]).reshape(shape)
    return x if dtype == "F64" else x.astype(np.float32, copy=False)


def fp8_amax_floor(dtype: str) -> np.float32:
    """1e-12 rounded to the weight dtype (upstream clamps before the float32 cast); fp16 flushes it to 0,
    so there we keep float32 1e-12 (see fp8.amax_floor)."""
    if dtype == "BF16":
        return (bf16_round(np.array([_EPS], dtype=np.float32)).astype(np.uint32) << 16).view(np.float32)[0]
    if dtype == "F16":
        return np.float32(_EPS)
    return np.float32(np.array(_EPS, dtype=NP_DTYPES[dtype]).astype(np.float32))


@cache
def _e4m3_table() -> np.ndarray:
    """e4m3fn byte for each (top 16 bits, any low bit set) class of float32, by c10's algorithm."""
    idx = np.arange(1 << 17, dtype=np.uint32)
    f_bits = ((idx >> 1) << 16) | (idx & 1)
    sign = f_bits & np.uint32(0x80000000)
    f_bits = f_bits ^ sign
    out = np.empty(idx.shape, dtype=np.uint32)
    # c10 maps >= 480 to NaN; torch's vectorized CPU cast saturates finite values and Inf to 448. Callers
    # clamp to [-448, 448] first, so only NaN reaches this branch; we follow the vectorized cast.
    over = f_bits >= np.uint32(1087 << 20)
    denorm = ~over & (f_bits < np.uint32(121 << 23))  # below 2^-6: e4m3 subnormals, by float addition
    normal = ~over & ~denorm
    out[over] = np.where(f_bits[over] > np.uint32(0x7F800000), 0x7F, 0x7E)
    magic = np.uint32(141 << 23)
    with np.errstate(over="ignore"):
        d = (f_bits[denorm].view(np.float32) + magic.view(np.float32)).view(np.uint32) - magic
    out[denorm] = d
    nb = f_bits[normal]
    mant_odd = (nb >> 20) & 1
    rounded = (nb + np.uint32(((7 - 127) << 23) & 0xFFFFFFFF) + np.uint32(0x7FFFF) + mant_odd) >> 20
    out[normal] = np.minimum(rounded, 0x7E)  # (464, 480) rounds up past 448: saturated like the rest
    return ((out & 0xFF) | (sign >> 24)).astype(np.uint8)


def to_e4m3(x: np.ndarray) -> np.ndarray:
    """float32 -> e4m3fn bytes, what torch's `.to(torch.float8_e4m3fn)` gives."""
    bits = x.view(np.uint32)
    idx = np.right_shift(bits, 15, dtype=np.int64, casting="unsafe")  # take() wants a native int index
    idx |= 1
    idx ^= (bits & np.uint32(0xFFFF)) == 0
    return _e4m3_table().take(idx)


def bf16_round(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits (uint16), round half to even, NaN -> 0x7FC0 (c10's round_to_nearest_even)."""
    u = x.view(np.uint32)
    r = ((u + np.uint32(0x7FFF) + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), r)


def fp8_quantize(x: np.ndarray, floor: np.float32, block: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a float weight -> e4m3 bytes `[n, K]` and float32 scales `[ceil(n/bn), ceil(K/bk)]`."""
    n, k = x.shape
    bn, bk = block
    nb, kb = -(-n // bn), -(-k // bk)
    if (nb * bn, kb * bk) != (n, k):
        padded = np.zeros((nb * bn, kb * bk), dtype=x.dtype)
        padded[:n, :k] = x
        x = padded
    tiles = x.reshape(nb, bn, kb, bk)
    amax = np.abs(tiles).max(axis=3).max(axis=1)  # [nb, kb]; NaN propagates as in torch
    scale = (np.maximum(amax.astype(np.float32), floor) / FP8_MAX).astype(np.float32)
    with np.errstate(invalid="ignore"):  # Inf / Inf in a tile holding Inf: NaN, as in torch
        q = tiles / scale.astype(x.dtype, copy=False)[:, None, :, None]
    np.clip(q, -FP8_MAX, FP8_MAX, out=q)
    if q.dtype != np.float32:  # F64 source: torch rounds float64 to float32 on the way to e4m3
        q = q.astype(np.float32)
    return to_e4m3(q).reshape(nb * bn, kb * bk)[:n, :k], scale


def int4_quantize(x: np.ndarray, group: int, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a float weight `[n, K]` -> packed int32 `[n, K/8]` and scales `[n, K/G]` in the source dtype."""
    n, k = x.shape
    groups = x.astype(np.float32, copy=False).reshape(n, k // group, group)
    scale = np.abs(groups).max(axis=-1, keepdims=True)
    scale *= _SEVENTH
    np.maximum(scale, _MIN_SCALE, out=scale)
    with np.errstate(invalid="ignore"):
        q = groups / scale
    np.rint(q, out=q)
    q += _OFFSET
    with np.errstate(invalid="ignore"):  # NaN codes: torch's uint8 cast gives 0 on x86 too (tested)
        codes = q.astype(np.uint8).reshape(n, k // 2, 2)
    packed = codes[..., 0] | (codes[..., 1] << 4)
    scale = scale.reshape(n, k // group)
    if dtype == "BF16":
        stored = bf16_round(scale)
    else:
        stored = scale.astype(NP_DTYPES[dtype])
    return packed.view(np.int32), stored


# ---- dequantization: float32 for verify (fp8.dequantize / int4.dequantize), BF16 bits for `convert bf16`

@cache
def _e4m3_values() -> np.ndarray:
    """float32 value of each e4m3fn byte: 1 sign, 4 exponent (bias 7), 3 mantissa bits; no Inf, 0x7F/0xFF NaN."""
    b = np.arange(256, dtype=np.uint32)
    exp, mant = (b >> 3) & 0xF, (b & 7).astype(np.float64)
    mag = np.where(exp == 0, np.ldexp(mant, -9), np.ldexp(1 + mant / 8, exp.astype(np.int64) - 7))
    mag[(b & 0x7F) == 0x7F] = np.nan
    return np.where(b & 0x80, -mag, mag).astype(np.float32)


def fp8_dequantize(q: np.ndarray, scale: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """e4m3 bytes `[n, K]` and float32 tile scales -> float32 `q * scale` `[n, K]` (fp8.dequantize).
    Rows start on a tile boundary; `scale` holds the tiles' rows `[ceil(n/bn), ceil(K/bk)]`."""
    n, k = q.shape
    bn, bk = block
    x = _e4m3_values().take(q)
    with np.errstate(over="ignore", invalid="ignore"):  # a huge scale overflows to Inf, as in torch
        if k % bk == 0 and n % bn == 0:  # whole tiles: broadcast in place
            tiles = x.reshape(n // bn, bn, k // bk, bk)
            tiles *= scale.reshape(n // bn, 1, k // bk, 1)
        else:
            x *= np.repeat(np.repeat(scale, bk, axis=1)[:, :k], bn, axis=0)[:n]
    return x


def int4_dequantize(packed: np.ndarray, scale: np.ndarray, dtype: str) -> np.ndarray:
    """Packed bytes `[n, K/2]` and the group scales' float32 values `[n, K/G]` -> float32 `[n, K]` holding
    `float32(q) * scale` rounded to the scale's stored `dtype` (int4.dequantize returns that dtype)."""
    n, groups = scale.shape
    codes = np.empty((n, packed.shape[1], 2), dtype=np.int8)  # nibble i of byte j -> element 2j + i
    np.bitwise_and(packed, 0xF, out=codes[..., 0], casting="unsafe")
    np.right_shift(packed, 4, out=codes[..., 1], casting="unsafe")
    codes -= _OFFSET
    with np.errstate(over="ignore", invalid="ignore"):  # huge scales overflow to Inf, as in torch
        x = np.multiply(codes.reshape(n, groups, -1), scale[:, :, None], dtype=np.float32).reshape(n, -1)
        if dtype == "BF16":  # round to nearest even on the bits, in place (NaN comes only from a NaN scale)
            u = x.view(np.uint32)
            lsb = np.right_shift(u, 16)
            lsb &= 1
            lsb += 0x7FFF
            u += lsb
            u &= np.uint32(0xFFFF0000)
        elif dtype != "F32":
            x = x.astype(NP_DTYPES[dtype]).astype(np.float32)
    return x


@cache
def _nibble_pairs() -> np.ndarray:
    """uint64 per byte holding its two INT4 codes (low nibble first, stored nibble - 8) as two float32s: one
    `take` turns packed bytes into float32 codes."""
    b = np.arange(256)
    pairs = (np.stack((b & 0xF, b >> 4), axis=-1) - _OFFSET).astype(np.float32)
    return np.ascontiguousarray(pairs).view(np.uint64).reshape(256)


def _bf16_bits(y: np.ndarray) -> np.ndarray:
    """bf16_round for a fresh float32 array, in place where it can be (this is most of dequantization's time)."""
    u = y.view(np.uint32)
    r = u >> 16
    r &= 1
    r += 0x7FFF
    r += u
    r >>= 16
    out = r.astype(np.uint16)
    nan = np.isnan(y)
    if nan.any():
        out[nan] = 0x7FC0
    return out


def fp8_dequantize_bf16(q: np.ndarray, scale: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """e4m3 bytes `[n, K]` and float32 tile scales -> bfloat16 bits `[n, K]`: bf16(float32(q) * scale), the
    product in float32 (THUDM/slime@624b824a:tools/fp8_cast_bf16.py:25-28) and rounded to nearest even.
    Rows start on a tile boundary; `scale` holds the tiles' rows `[ceil(n/bn), ceil(K/bk)]`.

    Within a tile the result depends on the code alone, so each tile is one lookup in a 256-entry table of
    that exact formula (the same bits as multiplying element by element, at a fraction of the passes).
    """
    n, k = q.shape
    bn, bk = block
    with np.errstate(over="ignore", invalid="ignore"):  # a huge scale overflows to Inf, as on every device
        tables = _bf16_bits(_e4m3_values()[None, None, :] * scale[:, :, None])  # [tile rows, tile cols, 256]
    out = np.empty((n, k), dtype=np.uint16)
    for i in range(scale.shape[0]):
        for j in range(scale.shape[1]):
            rows, cols = slice(i * bn, (i + 1) * bn), slice(j * bk, (j + 1) * bk)
            np.take(tables[i, j], q[rows, cols], out=out[rows, cols])
    return out


def int4_dequantize_bf16(packed: np.ndarray, scale: np.ndarray, group: int) -> np.ndarray:
    """Packed bytes `[n, K/2]` and float32 group scales `[n, K/G]` -> bfloat16 bits `[n, K]`:
    bf16(float32(q) * float32(scale)) (THUDM/slime@624b824a:tools/convert_k2_thinking_int4_to_bf16.py:67-83)."""
    n, groups = scale.shape
    x = _nibble_pairs().take(packed).view(np.float32).reshape(n, groups, group)
    with np.errstate(over="ignore", invalid="ignore"):
        x *= scale[:, :, None]
    return _bf16_bits(x.reshape(n, groups * group))
