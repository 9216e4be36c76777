"""`convert_checkpoint`: the whole conversion of a BF16 checkpoint directory into FP8 or INT4."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipe_runner.errors import RunError, user_error

from .device import Engine, choose_engine, default_workers
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
    device: str  # cpu | cuda
    engine: str  # numpy | torch-cpu | cuda (device.ENGINES)
    workers: int
    quantized: int
    kept: int
    input_bytes: int
    output_bytes: int
    seconds: float
    skipped: tuple[str, ...]  # source entries not carried over (subdirectories)


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
    if workers is not None and workers < 1:
        raise user_error("--workers", f"{workers} is not a positive number", hint="use --workers 1 or more")
    engine = choose_engine(device, params.mode, ckpt.total_bytes)  # after the cheap checks: bad input fails fast
    n_workers = workers or default_workers(engine)
    source_fp = fingerprint(src)

    start = time.monotonic()
    bar = Progress(ckpt.total_bytes, f"convert {params.mode}", enabled=progress)
    with staging(dst) as tmp:
        try:
            _run(engine, layout, tmp, n_workers, bar)
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
        engine.device,
        engine.name,
        n_workers,
        len(layout.quantized),
        len(layout.kept),
        ckpt.total_bytes,
        layout.total_size,
        seconds,
        skipped,
    )


def _run(engine: Engine, layout: Layout, out: Path, workers: int, bar: Progress) -> None:
    """Run the layout with the engine's quantizer; only the torch engines import torch."""
    from .stream import cpu_quantizer, run_layout

    if engine.name == "numpy":
        run_layout(layout, out, workers, bar, cpu_quantizer(layout.params))
        return
    from .deps import require_torch
    from .torch_stream import cuda_quantizer, one_thread_per_worker, torch_cpu_quantizer

    torch = require_torch()
    if engine.name == "cuda":
        run_layout(layout, out, workers, bar, cuda_quantizer(torch, torch.device("cuda"), layout))
        return
    with one_thread_per_worker(torch):
        run_layout(layout, out, workers, bar, torch_cpu_quantizer(torch, layout.params))


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
