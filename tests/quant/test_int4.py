"""INT4 codes, scales and packing against a numpy evaluation of slime's kernel and compressed-tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from compressed_tensors.compressors.pack_quantized.helpers import pack_to_int32, unpack_from_int32

from recipe_runner.formats import Int4Params
from recipe_runner.quant import int4, reference


def kernel_reference(w: torch.Tensor, group: int) -> tuple[np.ndarray, np.ndarray]:
    """fake_int4_quant_cuda, symmetric, block [1, G] (slime-low-precision.md §6.5), in numpy float32."""
    v = w.float().numpy().astype(np.float32)
    n, k = v.shape
    g = v.reshape(n, k // group, group)
    amax = np.abs(g).max(axis=-1, keepdims=True)
    s = np.maximum(amax * np.float32(1.0 / 7.0), np.float32(1e-5)).astype(np.float32)
    q = np.rint(g / s).astype(np.int8)  # IEEE float32 division, round half to even
    return q.reshape(n, k), s.reshape(n, k // group)


def tricky(shape: tuple[int, int], dtype: torch.dtype, group: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g) * 0.02
    w[0] = 0  # all-zero groups: scale floor 1e-5
    w[1] *= 1e-7  # tiny: amax/7 below the floor
    w[2] *= 1e4
    w[3, :group] = torch.arange(group) * 0.5 - 3.25  # exact halves: ties
    w[4] = w[4].abs()  # all-positive
    return w.to(dtype)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float16], ids=str)
@pytest.mark.parametrize(("shape", "group"), [((64, 256), 32), ((16, 512), 128), ((8, 192), 64)], ids=str)
def test_bit_identical_to_kernel_and_pack(shape: tuple[int, int], group: int, dtype: torch.dtype) -> None:
    w = tricky(shape, dtype, group, seed=group)
    packed, scale = int4.quantize(w, group)
    q_ref, s_ref = kernel_reference(w, group)
    assert packed.dtype == torch.int32 and packed.shape == (shape[0], shape[1] // 8)
    assert scale.dtype == dtype and scale.shape == (shape[0], shape[1] // group)
    assert torch.equal(scale, torch.from_numpy(s_ref).to(dtype))
    assert torch.equal(packed, pack_to_int32(torch.from_numpy(q_ref), 4))
    assert int(np.abs(q_ref).max()) <= 7
    unpacked = unpack_from_int32(packed, 4, torch.Size(shape))
    assert torch.equal(int4.unpack(packed, shape[1]), unpacked)


def test_decompresses_with_compressed_tensors_to_our_dequantization() -> None:
    params = Int4Params(group_size=32)
    w = tricky((128, 256), torch.bfloat16, 32, seed=1)
    packed, scale = int4.quantize(w, 32)
    tensors = {"weight_packed": packed, "weight_scale": scale, "weight_shape": torch.tensor([128, 256])}
    ref = reference.int4_reference(params.quantization_config())
    assert ref is not None and ref[0].startswith("compressed-tensors")
    theirs = ref[1](tensors)
    ours = int4.dequantize(packed, scale, 256)
    assert theirs.dtype == ours.dtype == torch.bfloat16
    assert torch.equal(theirs, ours)


def test_row_slabs_give_the_same_bits() -> None:
    w = tricky((96, 256), torch.bfloat16, 64, seed=2)
    packed, scale = int4.quantize(w, 64)
    parts = [int4.quantize(w[r : r + 40], 64) for r in range(0, 96, 40)]
    assert torch.equal(packed, torch.cat([p[0] for p in parts]))
    assert torch.equal(scale, torch.cat([p[1] for p in parts]))
