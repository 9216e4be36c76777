"""`convert_checkpoint`: the whole conversion of a BF16 checkpoint directory into FP8 or INT4, or of an FP8-block
or INT4 pack-quantized one back into BF16."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipe_runner.errors import user_error
from recipe_runner.formats import Bf16Params, Params

from .deps import require_torch
from .dequant_plan import plan_dequantization
from .dequant_source import read_dequant_source, without_quantization_config
from .device import Engine, choose_engine, default_workers, workload
from .failures import os_failure
from .fingerprint import fingerprint
from .lock import dst_lock
from .progress import Progress
from .record import RECORD_NAME, conversion_mismatch, manifest, record
from .safe_output import check_destination, check_overlap, check_parent, remove_stale_partials, staging
from .shard_plan import ConversionPlan, plan_conversion
from .signals import signals_raise
from .source import INDEX_NAME, Checkpoint, check_unquantized, list_dir, open_checkpoint


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
    reused: bool = False  # DST already held this conversion; nothing was done


MAX_WORKERS = 64


def convert_checkpoint(
    src: Path | str,
    dst: Path | str,
    params: Params,
    *,
    device: str = "auto",
    workers: int | None = None,
    force: bool = False,
    progress: bool = True,
    reuse: bool = False,
    allow_nonfinite: bool = False,
) -> ConversionResult:
    """Convert SRC into DST (written atomically, under DST's lock) and return what was done.

    `reuse`: when DST already holds this conversion (conversion.json and its manifest match), do nothing and
    return a result with `reused=True`. Bad input raises UserError; a failure while running, RunError;
    a handled signal, `signals.Interrupted` (after cleanup).
    """
    src, dst = Path(src), Path(os.path.abspath(dst))  # `.` and `..` resolved, so DST has a name and a parent
    try:
        return _convert(src, dst, params, device, workers, force, progress, reuse, allow_nonfinite)
    except OSError as e:
        raise os_failure(e, dst, f"converting {src} into {dst}") from e


def _convert(
    src: Path,
    dst: Path,
    params: Params,
    device: str,
    workers: int | None,
    force: bool,
    progress: bool,
    reuse: bool,
    allow_nonfinite: bool,
) -> ConversionResult:
    ckpt = open_checkpoint(src)
    if ckpt.config is None:
        raise user_error(
            str(src / "config.json"),
            "is missing",
            rule="config.json says how the checkpoint is (to be) quantized",
            hint="point at a Hugging Face checkpoint directory (it has a config.json)",
        )
    source = read_dequant_source(ckpt.config, str(src / "config.json")) if isinstance(params, Bf16Params) else None
    if source is None:
        check_unquantized(ckpt)
    aux = _aux_files(ckpt)
    check_overlap(dst, src)  # DST itself is checked under its lock, below
    check_parent(dst)
    if source is not None:
        layout = plan_dequantization(ckpt, source.params)  # type: ignore[arg-type]
    else:
        layout = plan_conversion(ckpt, params)  # type: ignore[arg-type]
    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise user_error(
            "--workers",
            f"{workers} is not in 1..{MAX_WORKERS}",
            rule="each worker holds a slab in memory (about 20 MB on CPU, 0.6 GB on CUDA)",
            hint="leave it out for the default, or use a number up to the cores",
        )
    dst.parent.mkdir(parents=True, exist_ok=True)
    with signals_raise(), dst_lock(dst):
        remove_stale_partials(dst)
        why_not = conversion_mismatch(dst, src, params.mode, params.to_json()) if dst.exists() else ""
        if reuse and not force and why_not is None:
            return ConversionResult(dst, params.mode, "-", "-", 0, len(layout.quantized), len(layout.kept),
                                    ckpt.total_bytes, layout.total_size, 0.0, (), reused=True)
        expected = check_destination(dst, src, force, why_not or "")
        # after the cheap checks: bad input fails fast
        engine = choose_engine(device, workload(params.mode, source and source.params.mode), ckpt.total_bytes)
        n_workers = workers or default_workers(engine)
        source_fp = fingerprint(src)

        start = time.monotonic()
        bar = Progress(ckpt.total_bytes, f"convert {params.mode}", enabled=progress)
        with staging(dst, expected) as tmp:
            try:
                _run(engine, layout, tmp, n_workers, bar, allow_nonfinite)
            finally:
                bar.close()
            skipped = _copy_aux_files(aux, tmp)
            _write_metadata(ckpt, layout, tmp)
            seconds = time.monotonic() - start
            summary = {
                "dequantized_tensors" if layout.source else "quantized_tensors": len(layout.quantized),
                "kept_tensors": len(layout.kept),
                "input_bytes": ckpt.total_bytes,
                "output_bytes": layout.total_size,
            }
            if source is not None:
                summary["source_format"] = source.description
            rec = record(src.resolve(), params, source_fp, summary, manifest(tmp))
            (tmp / RECORD_NAME).write_text(json.dumps(rec, indent=2) + "\n")
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


def _run(engine: Engine, layout: ConversionPlan, out: Path, workers: int, bar: Progress, allow_nonfinite: bool) -> None:
    """Run the layout with the engine's quantizer; only the torch engines import torch."""
    from . import dequant_stream
    from .stream import Guard, cpu_quantizer, run_layout

    guard = Guard(allow_nonfinite)
    fmt = layout.source
    if engine.name == "numpy":
        numpy_engine = dequant_stream.cpu_dequantizer(fmt) if fmt else cpu_quantizer(layout.params)
        run_layout(layout, out, workers, bar, numpy_engine, guard)
        return
    from .torch_stream import cuda_quantizer, one_thread_per_worker, torch_cpu_quantizer

    torch = require_torch()
    if engine.name == "cuda":
        cuda = torch.device("cuda")
        cuda_engine = dequant_stream.cuda_dequantizer(torch, cuda, layout) if fmt else cuda_quantizer(
            torch, cuda, layout)
        run_layout(layout, out, workers, bar, cuda_engine, guard)
        return
    with one_thread_per_worker(torch):
        cpu_engine = dequant_stream.torch_cpu_dequantizer(torch, fmt) if fmt else torch_cpu_quantizer(
            torch, layout.params)
        run_layout(layout, out, workers, bar, cpu_engine, guard)


def _aux_files(ckpt: Checkpoint) -> list[Path]:
    """Top-level non-weight entries to carry over (tokenizer, generation config, ...), each checked readable
    now, before any work: an unreadable one is the user's to fix (exit 2), not a failure halfway (exit 1)."""
    generated = {INDEX_NAME, "config.json", RECORD_NAME}
    out = []
    for path in list_dir(ckpt.root):
        if path.suffix == ".safetensors" or path.name in generated:
            continue
        if path.is_file():
            with path.open("rb"):
                pass
        out.append(path)
    return out


def _copy_aux_files(aux: list[Path], out: Path) -> tuple[str, ...]:
    """Copy the regular files; report subdirectories (and other non-files) not copied."""
    skipped = []
    for path in aux:
        if path.is_file():
            shutil.copyfile(path, out / path.name)
        else:
            skipped.append(path.name + ("/" if path.is_dir() else ""))
    return tuple(skipped)


def _write_metadata(ckpt: Checkpoint, layout: ConversionPlan, out: Path) -> None:
    config: dict[str, Any] = dict(ckpt.config or {})
    if layout.source is not None:
        config = without_quantization_config(config)
    else:
        config["quantization_config"] = layout.quantization_config()
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    index = {
        "metadata": {"total_size": layout.total_size},
        "weight_map": dict(sorted(layout.weight_map.items())),
    }
    (out / INDEX_NAME).write_text(json.dumps(index, indent=2) + "\n")
