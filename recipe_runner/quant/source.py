"""Open a source checkpoint directory and reject what cannot be converted, before any work starts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipe_runner.errors import user_error

from .header import FLOAT_SOURCE_DTYPES, HeaderError, ShardHeader, TensorInfo, read_header

INDEX_NAME = "model.safetensors.index.json"
QUANT_TENSOR_SUFFIXES = (
    "weight_scale_inv",
    "weight_scale",
    "weight_packed",
    "weight_zero_point",
    "input_scale",
)


@dataclass(frozen=True)
class Checkpoint:
    """A directory of safetensors shards (with or without an index) and its config.json."""

    root: Path
    shards: tuple[ShardHeader, ...]
    config: dict[str, Any] | None

    def tensors(self) -> list[tuple[ShardHeader, TensorInfo]]:
        return [(s, t) for s in self.shards for t in s.tensors.values()]

    @property
    def total_bytes(self) -> int:
        return sum(s.data_size for s in self.shards)


def open_checkpoint(path: Path) -> Checkpoint:
    """Read every header; a missing, corrupt or inconsistent shard is a UserError naming the file."""
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise user_error(str(path), what, hint="pass a Hugging Face checkpoint directory")
    index_path = path / INDEX_NAME
    if index_path.is_file():
        weight_map = _read_index(index_path)
        names = sorted(set(weight_map.values()))
        missing = [n for n in names if not (path / n).is_file()]
        if missing:
            raise user_error(
                str(index_path),
                f"names shard(s) that do not exist: {', '.join(missing[:5])}",
                hint="re-download the checkpoint",
            )
    else:
        weight_map = None
        names = sorted(p.name for p in path.glob("*.safetensors"))
    if not names:
        raise user_error(
            str(path),
            "contains no .safetensors files",
            rule="the converter reads Hugging Face safetensors checkpoints",
            hint="convert .bin/.pt weights to safetensors first, or point at the right directory",
        )
    shards = tuple(_read_shard(path / n) for n in names)
    seen: dict[str, Path] = {}
    for shard in shards:
        for name in shard.tensors:
            if name in seen:
                raise user_error(
                    str(shard.path),
                    f"tensor {name!r} is also in {seen[name].name}",
                    hint="the checkpoint is inconsistent; re-download it",
                )
            seen[name] = shard.path
    if weight_map is not None:
        for name, shard_name in weight_map.items():
            if seen.get(name, Path()).name != shard_name:
                raise user_error(
                    str(index_path),
                    f"maps {name!r} to {shard_name}, which does not hold it",
                    hint="the index and the shards disagree; re-download the checkpoint",
                )
    config_path = path / "config.json"
    config = _read_json(config_path) if config_path.is_file() else None
    return Checkpoint(path, shards, config)


def check_unquantized(ckpt: Checkpoint) -> None:
    """Refuse a source that is already quantized: re-quantizing scales or packed words is garbage."""
    qc = (ckpt.config or {}).get("quantization_config")
    if qc:
        raise user_error(
            str(ckpt.root / "config.json"),
            f"already has a quantization_config (quant_method={qc.get('quant_method')!r})",
            rule="the source must be an unquantized BF16/FP16/FP32 checkpoint",
            hint="convert from the original BF16 checkpoint",
        )
    for shard, t in ckpt.tensors():
        if t.name.endswith(QUANT_TENSOR_SUFFIXES) or (
            t.name.endswith(".weight") and t.dtype not in FLOAT_SOURCE_DTYPES
        ):
            raise user_error(
                str(shard.path),
                f"tensor {t.name!r} ({t.dtype}) is already quantized",
                rule="the source must be an unquantized BF16/FP16/FP32 checkpoint",
                hint="convert from the original BF16 checkpoint",
            )


def _read_shard(path: Path) -> ShardHeader:
    try:
        return read_header(path)
    except HeaderError as e:
        raise user_error(
            str(path),
            f"is not a valid safetensors file: {e}",
            hint="the shard is corrupt or truncated; re-download it",
        ) from e


def _read_index(path: Path) -> dict[str, str]:
    weight_map = _read_json(path).get("weight_map")
    if not isinstance(weight_map, dict):
        raise user_error(str(path), "has no weight_map object", hint="re-download the checkpoint")
    return weight_map


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise user_error(str(path), f"cannot be read as JSON ({e})", hint="fix or restore the file") from e
    if not isinstance(data, dict):
        raise user_error(str(path), "is not a JSON object", hint="fix or restore the file")
    return data
