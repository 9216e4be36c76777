"""What `checkpoints.hf` holds (BF16, block FP8, INT4 pack), and how we know.

Read in this order: the checkpoint's own config.json when it is on this machine (through the one reader of
`quantization_config`, formats.read_quantization_config); else the recipe (`checkpoints.hf_format`); else the
model's published format (`model.source_format`, or the quantization_config of the model's config.json, e.g. the bundled
copies of DeepSeek-V3 and Kimi-K2-Instruct); else BF16. The plan's preparation steps follow from the answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from recipe_runner import formats
from recipe_runner.errors import UserError, user_error
from recipe_runner.limits import MAX_CONFIG_BYTES
from recipe_runner.spec import Recipe


@dataclass(frozen=True)
class SourceFormat:
    format: str  # "bf16" | "fp8-block" | "int4-pack"
    origin: str  # where the answer came from, for `explain` and messages
    config: dict | None = None  # checkpoints.hf/config.json when it was read here
    block: tuple[int, int] | None = None  # fp8-block, when known
    group_size: int | None = None  # int4-pack, when known

    @property
    def model_type(self) -> str | None:
        return (self.config or {}).get("model_type")


def hf_config(path: str) -> dict | None:
    """`path`/config.json as a dict, or None when it is not here or not a JSON object (the checkpoint rules,
    checks/checkpoint.py, report a malformed one with the file and the fix)."""
    file = Path(path).expanduser() / "config.json"
    try:
        if not file.is_file() or file.stat().st_size > MAX_CONFIG_BYTES:
            return None
        data = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def from_config(config: dict, where: str) -> tuple[str, tuple[int, int] | None, int | None] | None:
    """(format, block, group) a config.json's quantization_config declares; ("bf16", None, None) for an unquantized
    one; None when it is malformed (the checkpoint rules say how). Multimodal wrappers (Kimi-K2.5) keep it in
    text_config. A well-formed quantization we cannot dequantize is exit 2."""
    text = config.get("text_config") if isinstance(config.get("text_config"), dict) else {}
    try:
        qc = formats.read_quantization_config(config if "quantization_config" in config else text, where)
    except UserError:
        return None
    if qc is None:
        return "bf16", None, None
    if qc.params is not None:  # a variant we write, hence can dequantize: the format knows its parameters
        block = getattr(qc.params, "block_size", None)
        return qc.format.name, tuple(block) if block else None, getattr(qc.params, "group_size", None)
    raise user_error(f"{where}: quantization_config", f"is {qc.description}",
                     rule="the plan prepares BF16, block-FP8 and INT4 pack-quantized (symmetric) releases",
                     hint="start from a BF16 copy of the model and set checkpoints.hf to it",
                     title="unsupported checkpoint format")


def detect(r: Recipe, model_config: dict) -> SourceFormat:
    """The format of checkpoints.hf and where that came from (see the module docstring for the order)."""
    cfg = hf_config(r.checkpoints.hf)
    where = str(Path(r.checkpoints.hf).expanduser() / "config.json")
    found = from_config(cfg, where) if cfg is not None else None
    if found:
        return SourceFormat(found[0], f"{where} (read here)", cfg, *found[1:])
    if r.checkpoints.hf_format:
        return SourceFormat(r.checkpoints.hf_format, "checkpoints.hf_format")
    if r.model.source_format:
        return SourceFormat(r.model.source_format, "model.source_format")
    found = from_config(model_config, f"model.config {r.model.config}")
    if found and found[0] != "bf16":
        return SourceFormat(found[0], f"the quantization_config of model.config {r.model.config}", None, *found[1:])
    return SourceFormat("bf16", f"model.config {r.model.config} has no quantization_config")
