"""Block FP8, DeepSeek-V3 style: `<mod>.weight` float8_e4m3fn `[N, K]` + `<mod>.weight_scale_inv` float32
`[ceil(N/bn), ceil(K/bk)]`, a dequant multiplier per tile (checkpoint-formats.md §0, §2).

The math (slime's `block_fp8`, bit-identical) lives in quant/fp8.py (torch) and quant/npmath.py (numpy).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recipe_runner.errors import user_error
from recipe_runner.quant.jsonfile import is_int

from .base import (
    SCALE_DTYPES,
    DequantModule,
    Entry,
    Format,
    QuantConfig,
    as_strings,
    module_name,
    quantizable,
    register,
)
from .fp8_tiles import scale_shape

if TYPE_CHECKING:
    import torch

    from recipe_runner.quant.dequant_plan import SourceTensors
    from recipe_runner.quant.header import TensorInfo

# The block every consumer loads: SGLang/vLLM/slime and every published block-FP8 checkpoint use 128 x 128
# (THUDM/slime@624b824a:tools/convert_hf_to_fp8.py; deepseek-ai/DeepSeek-V3@9b4e9788 config.json).
FP8_BLOCK = (128, 128)
# The values upstream consumers load; `convert` writes only these and `verify`/`inspect` accept only these.
# FP8 block dims: SGLang's Triton block-FP8 GEMM uses the block as its tile, BLOCK_SIZE_N/K = block
# (sgl-project/sglang@008601fa:python/sglang/srt/layers/quantization/fp8_kernel.py,
# w8a8_block_fp8_matmul_triton); Triton tiles are powers of two and tl.dot needs at least 16; DeepGEMM and
# every published block-FP8 checkpoint use 128. Larger tiles also make the padded slabs grow quadratically.
FP8_BLOCK_DIMS = (16, 32, 64, 128)

# THUDM/slime@624b824a:tools/convert_hf_to_fp8.py:133-149: a key is kept in high precision when it
# contains any of these substrings (norms, embeddings, the router `mlp.gate.`, lm_head, MTP eh_proj,
# indexer weights_proj, linear-attention conv/A_log/dt_bias/in_proj_a/in_proj_b).
FP8_KEEP_SUBSTRINGS = (
    "layernorm", "embed", "router", "mlp.gate.", "norm", "lm_head", "eh_proj",
    "weights_proj", "conv1d", "A_log", "dt_bias", "in_proj_a", "in_proj_b",
)  # fmt: skip


def check_block_size(block: object, where: str) -> tuple[int, int]:
    """Two integers from FP8_BLOCK_DIMS, or a UserError naming `where`."""
    if not (
        isinstance(block, (list, tuple)) and len(block) == 2 and all(is_int(d) and d in FP8_BLOCK_DIMS for d in block)
    ):
        raise user_error(
            where,
            f"{block!r} is not two of {', '.join(map(str, FP8_BLOCK_DIMS))}",
            rule="SGLang's block-FP8 GEMM takes the block as a Triton tile (a power of two, 16 to 128); "
            "DeepGEMM and published checkpoints use 128 x 128",
            hint=f"use --block-size {FP8_BLOCK[0]} {FP8_BLOCK[1]} (what SGLang, vLLM and slime expect)",
        )
    return block[0], block[1]


def fp8_quantizes(name: str, shape: tuple[int, ...]) -> bool:
    """Upstream's substring rule, restricted to quantizable tensors."""
    return quantizable(name, shape) and not any(s in name for s in FP8_KEEP_SUBSTRINGS)


@dataclass(frozen=True)
class Fp8Params:
    """DeepSeek-V3-style block FP8: one float32 dequant scale per [bn, bk] tile."""

    block_size: tuple[int, int] = FP8_BLOCK

    mode = "fp8"

    def __post_init__(self) -> None:
        check_block_size(self.block_size, "--block-size")

    @property
    def format(self) -> Fp8Block:
        return FORMAT

    def to_json(self) -> dict[str, Any]:
        return {"block_size": list(self.block_size)}

    def quantization_config(self, not_converted: list[str]) -> dict[str, Any]:
        """The block slime's FP8 tool writes (THUDM/slime@624b824a:tools/convert_hf_to_fp8.py:189-244)."""
        return {
            "quant_method": "fp8",
            "fmt": "e4m3",
            "activation_scheme": "dynamic",
            "weight_block_size": list(self.block_size),
            "modules_to_not_convert": sorted(set(not_converted)),
        }


class Fp8Block(Format):
    name = "fp8-block"
    conversion = "fp8"
    quant_method = "fp8"
    marker_suffixes = ("weight_scale_inv", "input_scale")
    marker_dtypes = ("F8_",)
    aux_suffixes = (".weight_scale_inv",)
    scale_role = "weight_scale_inv"
    dequant_rule = "FP8 `weight` + `weight_scale_inv` [ceil(N/bn), ceil(K/bk)]"
    estimate_quantizes = ("linears", "experts")  # every linear but the router (FP8_KEEP_SUBSTRINGS)
    nothing_quantized_rule = "only 2-D `.weight` tensors outside the keep rules are quantized"

    def bytes_per_param(self, group_size: int) -> float:
        return 1 + 4 / (FP8_BLOCK[0] * FP8_BLOCK[1])

    def params_from_json(self, data: dict[str, Any]) -> Fp8Params:
        block = data.get("block_size", list(FP8_BLOCK))
        return Fp8Params(check_block_size(tuple(block) if isinstance(block, list) else block, "parameters.block_size"))

    def read_config(self, qc: dict[str, Any], where: str) -> QuantConfig:
        not_converted = as_strings(qc.get("modules_to_not_convert"), f"{where}.modules_to_not_convert")
        block = qc.get("weight_block_size")
        if block is None:
            return QuantConfig("fp8 e4m3 (per-tensor)", self, None, not_converted, qc)
        bn, bk = check_block_size(block, f"{where}.weight_block_size")
        return QuantConfig(f"fp8 e4m3 block {bn}x{bk}", self, Fp8Params((bn, bk)), not_converted, qc)

    def quantizes(self, name: str, shape: tuple[int, ...], params: Fp8Params | None) -> bool:
        return fp8_quantizes(name, shape)

    def outputs(self, name: str, dtype: str, shape: tuple[int, ...], params: Fp8Params) -> list[Entry]:
        return [(name, "F8_E4M3", shape),
                (f"{module_name(name)}.weight_scale_inv", "F32", scale_shape(shape, params.block_size))]  # type: ignore[arg-type]

    def quantization_config(self, params: Fp8Params, kept: tuple[str, ...]) -> dict[str, Any]:
        """Upstream lists kept tensors with `.weight` removed (tools/convert_hf_to_fp8.py:133-149)."""
        return params.quantization_config([module_name(n) for n in kept])

    def quantized_base(self, name: str, dtype: str, shape: tuple[int, ...]) -> str | None:
        return module_name(name) if dtype == "F8_E4M3" else None

    def module_parts(self, base: str) -> dict[str, str]:
        return {"weight": f"{base}.weight", "weight_scale_inv": f"{base}.weight_scale_inv"}

    def dequant_module(self, source: SourceTensors, t: TensorInfo, params: Fp8Params) -> DequantModule | None:
        """Every float8 tensor is taken as a weight, so one that is not a 2-D e4m3 `.weight` is refused, not
        copied; its scale grid covers partial tiles."""
        if not t.dtype.startswith(self.marker_dtypes):
            return None
        base = self.quantized_base(t.name, t.dtype, t.shape)  # None: a float8 other than e4m3
        if base is None or not t.name.endswith(".weight") or len(t.shape) != 2:
            raise source.bad(t.name, f"is {t.dtype} {list(t.shape)}, not a 2-D float8_e4m3fn `.weight`",
                             rule="block-FP8 checkpoints (DeepSeek-V3 style) store 2-D e4m3 weights")
        n, k = t.shape
        role = self.scale_role
        scale = source.companion(t, role, self.module_parts(base)[role], SCALE_DTYPES,
                                 scale_shape((n, k), params.block_size))
        return DequantModule(base, (n, k), (scale,))

    def block_rows(self, params: Fp8Params) -> int:
        return params.block_size[0]

    def slab(self, read: Callable[[str, int, int], torch.Tensor], r0: int, r1: int,
             params: Fp8Params) -> dict[str, torch.Tensor]:
        bn = params.block_size[0]  # r0 is a multiple of bn (block_rows): the slab's scale rows are its own
        return {"weight": read("weight", r0, r1), "weight_scale_inv": read("weight_scale_inv", r0 // bn, -(-r1 // bn))}

    def dequantize(self, parts: dict[str, torch.Tensor], params: Fp8Params) -> torch.Tensor:
        """float32 `weight * weight_scale_inv` per tile (quant/fp8.py, DeepSeek's `weight_dequant`)."""
        from recipe_runner.quant import fp8

        return fp8.dequantize(parts["weight"], parts["weight_scale_inv"], params.block_size)

    def rollout_problems(self, qc: dict[str, Any] | None, names: tuple[str, ...], mode: str,
                         fix: str) -> Iterator[tuple[str, str]]:
        if qc is None:
            yield f"no quantization_config: mode {mode} would silently roll out in BF16", fix
            return
        expected = {"quant_method": "fp8", "activation_scheme": "dynamic", "weight_block_size": list(FP8_BLOCK)}
        for key, want in expected.items():
            if qc.get(key) != want:
                yield f"quantization_config.{key} is {qc.get(key)!r}, slime's FP8 quantizer needs {want!r}", fix
        if qc.get("fmt", "e4m3") != "e4m3":
            yield f"quantization_config.fmt is {qc['fmt']!r}, slime needs e4m3 (or no fmt)", fix
        if names and not any(n.endswith(self.aux_suffixes) for n in names):
            yield "no *.weight_scale_inv tensors in the index: this is not a block-FP8 checkpoint", fix

    def conversion_hint(self, src: str, group_size: int) -> str:
        return f"convert with `recipe-runner convert fp8 {src} DST` (block {FP8_BLOCK[0]}x{FP8_BLOCK[1]})"


FORMAT = register(Fp8Block())
