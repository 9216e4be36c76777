"""Which quantized format a `convert bf16` source is in, read from its config.json by the one reader (formats),
and that config.json without its quantization_config (what the BF16 output keeps: every other field)."""

from __future__ import annotations

from typing import Any

from recipe_runner.errors import user_error
from recipe_runner.formats import QuantConfig, read_quantization_config

# Where a config.json keeps its quantization_config: at the top (LLMs), or in `text_config` for multimodal
# wrappers whose language model is quantized (Kimi-K2.5: /work/shared/model-configs/kimi-k2.5.json).
QC_PLACES: tuple[tuple[str, ...], ...] = (("quantization_config",), ("text_config", "quantization_config"))


def quantization_config_place(config: dict[str, Any] | None) -> tuple[str, ...] | None:
    """The key path of the first non-empty quantization_config in `config`, or None."""
    for path in QC_PLACES:
        node: Any = config or {}
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node not in (None, {}):
            return path
    return None


def without_quantization_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of `config` with its quantization_config removed (where it was); every other field kept."""
    place = quantization_config_place(config)
    out = dict(config)
    if place is None:
        return out
    if len(place) == 1:
        del out[place[0]]
        return out
    out[place[0]] = {k: v for k, v in out[place[0]].items() if k != place[1]}
    return out


def read_dequant_source(config: dict[str, Any] | None, where: str) -> QuantConfig:
    """The quantized format `convert bf16` reads from SRC's config.json: block FP8 or symmetric INT4
    pack-quantized (one config group). Anything else is a UserError naming the field."""
    place = quantization_config_place(config)
    rule = "convert bf16 reads block-FP8 (quant_method fp8 with weight_block_size) and symmetric INT4 " \
           "compressed-tensors pack-quantized checkpoints"
    if place is None:
        raise user_error(
            where, "has no quantization_config: the checkpoint is not quantized", rule=rule,
            hint="a BF16 checkpoint needs no dequantization; use it as it is",
        )
    node: Any = config
    for key in place[:-1]:
        node = node[key]
    qc = read_quantization_config(node, where)
    assert qc is not None
    field = f"{where}: {'.'.join(place)}"
    groups = qc.raw.get("config_groups")
    if isinstance(groups, dict) and len(groups) > 1:
        raise user_error(
            f"{field}.config_groups", f"has {len(groups)} groups ({', '.join(groups)})",
            rule="one quantization scheme per checkpoint (group_0), as Kimi-K2-Thinking and slime's converter write",
            hint="dequantize with compressed-tensors' own tools",
        )
    if qc.params is None:
        raise user_error(field, f"is {qc.description}, which convert bf16 does not read", rule=rule,
                         hint="dequantize it with the tool of its producer")
    return qc
