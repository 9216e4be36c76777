"""The one checkpoint reader: a directory of safetensors shards, its index and config.json, from headers only.

`open_checkpoint` is the converter's (and verify's, inspect's) strict reader: every shard header is read and
any inconsistency is a UserError naming the file. `read_checkpoint` is pre-flight's: a checkpoint that is not on
this machine is None, and only config.json, the index (or a single file's header) are read, leniently, since
the converter and verify report damaged shards themselves. Both give the same `Checkpoint`, whose
quantization_config is read by the formats' one reader. Only the stdlib (no torch, no safetensors).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from recipe_runner.errors import UserError, user_error
from recipe_runner.formats import QUANT_TENSOR_SUFFIXES, QuantConfig, read_quantization_config

from .header import FLOAT_SOURCE_DTYPES, HeaderError, ShardHeader, TensorInfo, read_header
from .jsonfile import parse_json, read_bounded

INDEX_NAME = "model.safetensors.index.json"


@dataclass(frozen=True)
class Checkpoint:
    """A directory of safetensors shards (with or without an index) and its config.json."""

    root: Path
    shards: tuple[ShardHeader, ...]  # read_checkpoint: only a single-file checkpoint's header
    config: dict[str, Any] | None  # read_checkpoint: a multimodal wrapper's text_config unwrapped
    index: dict[str, Any] | None = None  # the model.safetensors.index.json, when there is one

    def tensors(self) -> list[tuple[ShardHeader, TensorInfo]]:
        return [(s, t) for s in self.shards for t in s.tensors.values()]

    @property
    def names(self) -> tuple[str, ...]:
        """Tensor names: the index's weight_map, else the shards' headers."""
        if self.index is not None:
            return tuple(self.index["weight_map"])
        return tuple(t.name for _, t in self.tensors())

    @property
    def total_bytes(self) -> int:
        return sum(s.data_size for s in self.shards)

    @property
    def quantization(self) -> dict[str, Any] | None:
        """The raw quantization_config block (None when unquantized)."""
        return (self.config or {}).get("quantization_config")

    @cached_property
    def quant(self) -> QuantConfig | None:
        """The quantization_config as the formats' one reader reads it (a malformed one is a UserError)."""
        return read_quantization_config(self.config, str(self.root / "config.json"))


def open_checkpoint(path: Path) -> Checkpoint:
    """Read every header; a missing, corrupt or inconsistent shard is a UserError naming the file."""
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise user_error(str(path), what, hint="pass a Hugging Face checkpoint directory")
    entries = list_dir(path)
    index_path = path / INDEX_NAME
    index = _read_index(index_path) if index_path.is_file() else None
    if index is not None:
        weight_map = index["weight_map"]
        names = sorted(set(weight_map.values()))
        missing = [n for n in names if not (path / n).exists()]
        if missing:
            raise user_error(
                str(index_path),
                f"names shard(s) that do not exist: {', '.join(missing[:5])}",
                hint="re-download the checkpoint",
            )
    else:
        weight_map = None
        names = sorted(p.name for p in entries if p.suffix == ".safetensors")
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
    return Checkpoint(path, shards, config, index)


def read_checkpoint(path: str | Path) -> Checkpoint | None:
    """Pre-flight's view of the checkpoint at `path`, or None when the directory is not here.

    A config.json, quantization_config or index that is not valid JSON or of the wrong JSON shape, and a corrupt
    single model.safetensors, are the checkpoint's error (exit 2), in the converter's words.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        return None
    config_path, index_path = root / "config.json", root / INDEX_NAME
    cfg = _lenient_object(config_path, _lenient_json(config_path), "config.json")
    if cfg is not None and "num_hidden_layers" not in cfg and isinstance(cfg.get("text_config"), dict):
        cfg = {**cfg["text_config"], **{k: v for k, v in cfg.items() if k == "quantization_config"}}
    index = _lenient_object(index_path, _lenient_json(index_path), "the index")
    shards: tuple[ShardHeader, ...] = ()
    if index is not None:
        weight_map = index.get("weight_map", {})
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in (*weight_map, *weight_map.values())):
            raise _wrong_type(index_path, "weight_map", "an object of tensor name -> file name")
        index = {**index, "weight_map": weight_map}
    elif (root / "model.safetensors").is_file():
        try:
            shards = (read_header(root / "model.safetensors"),)
        except HeaderError as e:  # the converter refuses the same file in the same words
            raise _corrupt(root / "model.safetensors", f"is not a valid safetensors file: {e}") from e
    ckpt = Checkpoint(root, shards, cfg, index)
    if cfg is not None:
        _ = ckpt.quant  # read (and check) the quantization_config now: a malformed one is refused up front
    return ckpt


def _lenient_json(path: Path) -> object:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except OSError:
        return None
    except ValueError as e:
        raise _corrupt(path, f"is not valid JSON: {e}") from e


def _corrupt(path: Path, message: str) -> UserError:
    return user_error(str(path), message, rule="a checkpoint SGLang or the converter loads must be readable",
                      hint="the file is corrupt or truncated: copy or download it again, or convert again",
                      title="invalid checkpoint")


def _lenient_object(path: Path, value: object, what: str) -> dict | None:
    """`value` when it is a JSON object (or absent); any other type is the checkpoint's error (exit 2)."""
    if value is None or isinstance(value, dict):
        return value
    raise _wrong_type(path, what, "a JSON object")


def _wrong_type(path: Path, what: str, want: str) -> UserError:
    return user_error(str(path), f"{what} is not {want}", rule="a Hugging Face checkpoint's config.json, its "
                      "quantization_config and model.safetensors.index.json have fixed shapes",
                      hint="restore the file from the checkpoint, or convert again", title="invalid checkpoint")


def list_dir(path: Path) -> list[Path]:
    """The entries of a directory, or a UserError naming it (unreadable, not searchable)."""
    try:
        return sorted(path.iterdir())
    except OSError as e:
        raise user_error(str(path), f"cannot be listed ({e.strerror})", hint="check its permissions") from e


def check_unquantized(ckpt: Checkpoint) -> None:
    """Refuse a source that is already quantized: re-quantizing scales or packed words is garbage."""
    qc = (ckpt.config or {}).get("quantization_config")
    if qc:
        method = qc.get("quant_method") if isinstance(qc, dict) else qc
        raise user_error(
            str(ckpt.root / "config.json"),
            f"already has a quantization_config (quant_method={method!r})",
            rule="the source must be an unquantized BF16/FP16/FP32 checkpoint",
            hint="convert from the original BF16 checkpoint (an FP8-block or INT4 release: "
            "`recipe-runner convert bf16 SRC BF16_DIR` first)",
        )
    for shard, t in ckpt.tensors():
        if t.name.endswith(QUANT_TENSOR_SUFFIXES) or (
            t.name.endswith(".weight") and t.dtype not in FLOAT_SOURCE_DTYPES
        ):
            raise user_error(
                str(shard.path),
                f"tensor {t.name!r} ({t.dtype}) is already quantized",
                rule="the source must be an unquantized BF16/FP16/FP32 checkpoint",
                hint="convert from the original BF16 checkpoint (an FP8-block or INT4 release: "
            "`recipe-runner convert bf16 SRC BF16_DIR` first)",
            )


def _read_shard(path: Path) -> ShardHeader:
    if not path.is_file():
        raise user_error(str(path), "is not a regular file", hint="a shard must be a .safetensors file; move it away")
    try:
        return read_header(path)
    except OSError as e:
        raise user_error(str(path), f"cannot be read ({e.strerror})", hint="check its permissions") from e
    except HeaderError as e:
        raise user_error(
            str(path),
            f"is not a valid safetensors file: {e}",
            hint="the shard is corrupt or truncated; re-download it",
        ) from e


def _plain_shard_name(name: object) -> bool:
    """A file name in the checkpoint directory itself: no separators, no `..`, a .safetensors suffix."""
    return isinstance(name, str) and name.endswith(".safetensors") and Path(name).name == name and "\0" not in name


def _read_index(path: Path) -> dict[str, Any]:
    """The index with its shape checked: `weight_map` maps tensor names to shard file names in this directory."""
    index = _read_json(path)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        raise user_error(str(path), "has no weight_map object", hint="re-download the checkpoint")
    bad = next(((k, v) for k, v in weight_map.items() if not _plain_shard_name(v)), None)
    if bad is not None:
        raise user_error(
            str(path),
            f"weight_map maps {bad[0]!r} to {bad[1]!r}",
            rule="weight_map values are shard file names (*.safetensors) in the checkpoint directory",
            hint="fix or re-download the index",
        )
    metadata = index.get("metadata", {})
    if not isinstance(metadata, dict):
        raise user_error(str(path), f"metadata is {type(metadata).__name__}, not an object", hint="fix the index")
    return index


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = read_bounded(path)
    except OSError as e:
        raise user_error(str(path), f"cannot be read ({e.strerror})", hint="check its permissions") from e
    except ValueError as e:
        raise user_error(str(path), str(e), hint="replace it with the real file") from e
    try:
        data = parse_json(raw, ValueError)
    except ValueError as e:
        raise user_error(str(path), f"cannot be read as JSON: {e}", hint="fix or restore the file") from e
    if not isinstance(data, dict):
        raise user_error(str(path), "is not a JSON object", hint="fix or restore the file")
    return data
