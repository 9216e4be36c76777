"""`convert_checkpoint`: the whole conversion of a BF16 checkpoint directory into FP8 or INT4."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from recipe_runner.errors import RunError, user_error

from .deps import require_torch
from .fingerprint import fingerprint
from .layout import Layout, plan_conversion
from .params import Params
from .progress import Progress
from .record import RECORD_NAME, record
from .safe_output import check_destination, staging
from .source import INDEX_NAME, Checkpoint, check_unquantized, open_checkpoint


@dataclass(frozen=True)
class ConversionResult:
    dst: Path
    mode: str
    device: str
    workers: int
    quantized: int
    kept: int
    input_bytes: int
    output_bytes: int
    seconds: float
    skipped: tuple[str, ...]  # source entries not carried over (subdirectories)


def resolve_device(device: str) -> str:
    torch = require_torch()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise user_error(
            "--device", "cuda was requested but torch sees no CUDA device", hint="use --device auto or cpu"
        )
    if device not in ("cpu", "cuda"):
        raise user_error("--device", f"{device!r} is not one of auto, cpu, cuda", hint="use --device auto")
    return device


def default_workers(device: str) -> int:
    """Threads over tensors: one per core on CPU (math-bound); on CUDA enough to overlap disk and PCIe."""
    return 4 if device == "cuda" else min(os.cpu_count() or 1, 16)


@contextmanager
def _one_torch_thread_per_worker(torch: ModuleType, device: str) -> Iterator[None]:
    """On CPU, parallelism comes from the workers; torch's own OpenMP team inside each small op then only
    adds barriers (measured 5x slower on a loaded 2-core host). Restored afterwards for library callers."""
    if device != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def convert_checkpoint(
    src: Path | str,
    dst: Path | str,
    params: Params,
    *,
    device: str = "auto",
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
) -> ConversionResult:
    """Convert SRC into DST (written atomically) and return what was done. Bad input raises UserError."""
    src, dst = Path(src), Path(dst)
    ckpt = open_checkpoint(src)
    if ckpt.config is None:
        raise user_error(
            str(src / "config.json"),
            "is missing",
            rule="the quantization_config is written into config.json",
            hint="point at a Hugging Face checkpoint directory (it has a config.json)",
        )
    check_unquantized(ckpt)
    check_destination(dst, src, force)
    layout = plan_conversion(ckpt, params)
    torch = require_torch()  # after the torch-free checks, so bad input fails fast
    dev = resolve_device(device)
    if workers is not None and workers < 1:
        raise user_error("--workers", f"{workers} is not a positive number", hint="use --workers 1 or more")
    n_workers = workers or default_workers(dev)
    source_fp = fingerprint(src)
    from .stream import Executor  # torch-heavy; imported once torch is known to be present

    start = time.monotonic()
    bar = Progress(ckpt.total_bytes, f"convert {params.mode}", enabled=progress)
    with staging(dst) as tmp:
        try:
            with _one_torch_thread_per_worker(torch, dev):
                Executor(layout, tmp, torch.device(dev), n_workers).run(bar)
        except OSError as e:
            raise RunError(f"writing {dst} failed: {e}") from e
        finally:
            bar.close()
        skipped = _copy_aux_files(ckpt, tmp)
        _write_metadata(ckpt, layout, tmp)
        seconds = time.monotonic() - start
        summary = {
            "quantized_tensors": len(layout.quantized),
            "kept_tensors": len(layout.kept),
            "input_bytes": ckpt.total_bytes,
            "output_bytes": layout.total_size,
        }
        (tmp / RECORD_NAME).write_text(json.dumps(record(src.resolve(), params, source_fp, summary), indent=2) + "\n")
    return ConversionResult(
        dst,
        params.mode,
        dev,
        n_workers,
        len(layout.quantized),
        len(layout.kept),
        ckpt.total_bytes,
        layout.total_size,
        seconds,
        skipped,
    )


def _copy_aux_files(ckpt: Checkpoint, out: Path) -> tuple[str, ...]:
    """Copy tokenizer, generation config and other top-level files; report subdirectories not copied."""
    skipped = []
    generated = {INDEX_NAME, "config.json", RECORD_NAME}
    for path in sorted(ckpt.root.iterdir()):
        if path.is_dir():
            skipped.append(path.name + "/")
        elif path.is_file() and path.suffix != ".safetensors" and path.name not in generated:
            shutil.copyfile(path, out / path.name)
    return tuple(skipped)


def _write_metadata(ckpt: Checkpoint, layout: Layout, out: Path) -> None:
    config: dict[str, Any] = dict(ckpt.config or {})
    config["quantization_config"] = layout.quantization_config()
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    index = {
        "metadata": {"total_size": layout.total_size},
        "weight_map": dict(sorted(layout.weight_map.items())),
    }
    (out / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
