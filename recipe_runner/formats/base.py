"""What every checkpoint format module provides, and the registry the modules add themselves to.

A format module (bf16.py, fp8_block.py, int4_pack.py) owns everything about its checkpoints: tensor names and
suffixes, parameters, the `quantization_config` it writes and how to read one back, which tensors it quantizes
or keeps, bytes per parameter, and where its dequantization math lives. Everything else asks the format
(the pattern of compressed-tensors' `@BaseCompressor.register(name=...)`, a format registering itself by name:
compressed-tensors==0.20.1:compressed_tensors/compressors/pack_quantized/base.py:35).
Torch-free: the dequantization math is imported inside `dequantize`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from recipe_runner.errors import user_error

if TYPE_CHECKING:
    import torch

    from recipe_runner.quant.dequant_plan import SourceTensors
    from recipe_runner.quant.header import TensorInfo
    from recipe_runner.quant.shard_plan import SourcePart

Entry = tuple[str, str, tuple[int, ...]]  # (tensor name, safetensors dtype, shape)
# The scale dtypes `convert bf16` reads: DeepSeek writes F32 scales, compressed-tensors the weight dtype.
SCALE_DTYPES = ("F32", "BF16", "F16")


@dataclass(frozen=True)
class QuantConfig:
    """What a quantization_config says. `params` is set for the variants we write, else None."""

    description: str  # e.g. "fp8 e4m3 block 128x128", "compressed-tensors pack-quantized int4 group 32 symmetric"
    format: Format | None  # the registered format that reads this quant_method, None for others
    params: Any  # Fp8Params | Int4Params | None
    not_converted: tuple[str, ...]  # fp8 `modules_to_not_convert`
    raw: dict[str, Any]


@dataclass(frozen=True)
class DequantModule:
    """One quantized module of a `convert bf16` source, checked against its format: what it dequantizes to."""

    base: str  # `<mod>`: the BF16 weight written is BF16's `module_parts(base)["weight"]`
    shape: tuple[int, int]  # the BF16 weight's
    parts: tuple[SourcePart, ...]  # the companions read with the main tensor (scales, shape), in any shard


class Format:
    """One checkpoint format. Subclasses set the class attributes and override what applies to them."""

    name: ClassVar[str]  # the precision table's rollout_format: "bf16" | "fp8-block" | "int4-pack"
    conversion: ClassVar[str | None] = None  # `recipe-runner convert <conversion>`, Params.mode, conversion.json mode
    quant_method: ClassVar[str | None] = None  # the quantization_config.quant_method it writes and reads
    marker_suffixes: ClassVar[tuple[str, ...]] = ()  # tensor-name suffixes only its quantized checkpoints hold
    marker_dtypes: ClassVar[tuple[str, ...]] = ()  # safetensors dtype prefixes only its quantized checkpoints hold
    aux_suffixes: ClassVar[tuple[str, ...]] = ()  # per-module tensors besides the one counted as the weight
    estimate_quantizes: ClassVar[tuple[str, ...]] = ()  # estimate.ParamCounts fields it stores quantized
    nothing_quantized_rule: ClassVar[str] = ""  # why a conversion found no tensor to quantize
    scale_role: ClassVar[str] = ""  # the `module_parts` role holding the scales
    dequant_rule: ClassVar[str] = ""  # the tensors one quantized module is dequantized from (`convert bf16`'s rule)

    def bytes_per_param(self, group_size: int) -> float:
        """Bytes per quantized parameter, scales included (estimate.py)."""
        return 2

    def params_from_json(self, data: dict[str, Any]) -> Any:
        """Conversion parameters from `conversion.json` or a launcher's dict (a UserError on bad values)."""
        raise NotImplementedError(self.name)

    def read_config(self, qc: dict[str, Any], where: str) -> QuantConfig:
        """The quantization_config `qc` (its quant_method is this format's), fields type- and bound-checked."""
        raise NotImplementedError(self.name)

    def quantizes(self, name: str, shape: tuple[int, ...], params: Any) -> bool:
        """Whether a conversion with `params` quantizes this source tensor (None: the default rules)."""
        return False

    def check_quantized(self, name: str, shape: tuple[int, ...], params: Any) -> None:
        """Refuse (UserError) a tensor the rules would quantize but the format cannot hold."""

    def outputs(self, name: str, dtype: str, shape: tuple[int, ...], params: Any) -> list[Entry]:
        """The tensors a conversion writes for one quantized source tensor."""
        raise NotImplementedError(self.name)

    def quantization_config(self, params: Any, kept: tuple[str, ...]) -> dict[str, Any]:
        """The block written into config.json; `kept`: the source tensors left unquantized."""
        raise NotImplementedError(self.name)

    def quantized_base(self, name: str, dtype: str, shape: tuple[int, ...]) -> str | None:
        """The module name (`<mod>`) when this tensor is the format's quantized weight, else None."""
        return None

    def module_parts(self, base: str) -> dict[str, str]:
        """Role -> tensor name of one quantized module (the roles `dequantize` takes)."""
        return {"weight": f"{base}.weight"}

    def dequant_module(self, source: SourceTensors, t: TensorInfo, params: Any) -> DequantModule | None:
        """When `t` is the main tensor of one of this format's quantized modules, that module with its companions
        (`module_parts`) looked up in `source`, all checked; None for any other tensor. What does not fit the
        format is a UserError from `source.bad` naming the tensor and its shard."""
        return None

    def block_rows(self, params: Any) -> int:
        """Row alignment of a slab: slabs of whole scale blocks give the same bits as the whole tensor."""
        return 1

    def slab(self, read: Callable[[str, int, int], torch.Tensor], r0: int, r1: int,
             params: Any) -> dict[str, torch.Tensor]:
        """Rows r0..r1 of one module as the tensors of a module that many rows tall (what `dequantize` and the
        consumers' dequantizers take); `read(role, a, b)` returns rows a..b of that role's stored tensor."""
        raise NotImplementedError(self.name)

    def dequantize(self, parts: dict[str, torch.Tensor], params: Any) -> torch.Tensor:
        """Rows of one module (`module_parts` roles, row-sliced) back to a dense weight."""
        raise NotImplementedError(self.name)

    def rollout_problems(self, qc: dict[str, Any] | None, names: tuple[str, ...], mode: str,
                         fix: str) -> Iterator[tuple[str, str]]:
        """(message, hint) for each way the rollout checkpoint's config (and tensor names) is not this format."""
        return iter(())

    def conversion_hint(self, src: str, group_size: int) -> str:
        """How to make a checkpoint of this format from the BF16 one at `src`."""
        return f"use the BF16 checkpoint {src}"


REGISTRY: dict[str, Format] = {}


def register(fmt: Format) -> Format:
    """Add a format under its name; each format module calls this once for its one instance."""
    if fmt.name in REGISTRY:
        raise ValueError(f"format {fmt.name!r} registered twice")
    REGISTRY[fmt.name] = fmt
    return fmt


def quantizable(name: str, shape: tuple[int, ...]) -> bool:
    """2-D `.weight` tensors with elements: other ranks crash upstream, and a zero-size tensor is copied as is."""
    return name.endswith(".weight") and len(shape) == 2 and 0 not in shape


def module_name(name: str) -> str:
    """A tensor's module: the name with `.weight` removed (how upstream lists kept modules)."""
    return name[: -len(".weight")] if name.endswith(".weight") else name


def as_object(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise user_error(where, f"is {type(value).__name__} {value!r}, not an object", hint="fix config.json")
    return value


def as_strings(value: object, where: str) -> tuple[str, ...]:
    """None/absent or a list of strings."""
    if value is None:
        return ()
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise user_error(where, f"{value!r} is not a list of strings", hint="fix config.json")
    return tuple(value)

