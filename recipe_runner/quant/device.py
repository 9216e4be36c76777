"""Which engine converts: numpy on CPU, torch on CPU, or torch on CUDA, by the whole process's expected time.

numpy starts in a fraction of a second; torch first pays for `import torch` (4.5-6.4 s on the H200
machine) and, on CUDA, a context; then each runs at its own math rate per core, capped by what disk
and page cache sustain. `--device auto` takes the engine with the smallest expected time for this
input size, core count, GPU and format; `--device cpu` chooses between the two CPU engines the same way.
All engines write the same bytes. The GPU is detected without importing torch.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from recipe_runner.errors import user_error

from .deps import require_torch

_GIB = 1024**3


@dataclass(frozen=True)
class Engine:
    name: str  # numpy | torch-cpu | cuda
    device: str  # cpu | cuda
    start_s: float  # seconds before the first byte: imports, CUDA context, planning
    rate: dict[str, float]  # GiB/s of input by workload: per worker thread on CPU, in total on CUDA


# Measured on the H200 machine (16 cores, 4 GiB shards, warm page cache; benchmarks/convert.py at 8 and 24 GiB,
# tables in docs/converter.md): start is the median `process s - convert s`, rates the 24 GiB runs.
# IO_GIB_S caps every engine: the fastest whole-run rate seen (CUDA FP8 writes half the bytes it reads;
# INT4's many small MoE tensors cap near the numpy rate).
# `convert bf16` (workloads "bf16-from-fp8", "bf16-from-int4"), GiB/s of quantized input, from the H200 whole runs
# of `benchmarks/convert.py --bf16` at 16 GiB (docs/converter.md, 2026-11-30): per worker numpy 0.022 from FP8 and
# 0.034 from INT4, torch-cpu 0.085 and 0.036, CUDA 1.41 and 0.99 in total; the cap is what the fastest engine
# reached (it writes 2x (FP8) to 3x (INT4) the bytes it reads, at about the speed of a plain copy). The engines
# rank in opposite orders on the two sources, hence a rate per source.
IO_GIB_S = {"fp8": 6.0, "int4": 2.8, "bf16-from-fp8": 1.4, "bf16-from-int4": 1.0}
ENGINES = (
    Engine("numpy", "cpu", 0.2, {"fp8": 0.14, "int4": 0.17, "bf16-from-fp8": 0.022, "bf16-from-int4": 0.034}),
    Engine("torch-cpu", "cpu", 4.0, {"fp8": 0.22, "int4": 0.13, "bf16-from-fp8": 0.085, "bf16-from-int4": 0.036}),
    Engine("cuda", "cuda", 4.8, {"fp8": 5.5, "int4": 2.5, "bf16-from-fp8": 1.41, "bf16-from-int4": 0.99}),
)


def workload(mode: str, source_mode: str | None = None) -> str:
    """The key of a conversion's rates: the mode, or for `convert bf16` the source's format too."""
    return f"{mode}-from-{source_mode}" if source_mode else mode


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def gpu_visible() -> bool:
    """An NVIDIA GPU this process may use, judged from the driver's files (importing torch costs seconds)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or any(Path("/dev").glob("nvidia[0-9]*"))


def estimate_seconds(engine: Engine, work: str, input_bytes: int, cores: int) -> float:
    rate = engine.rate[work] * (cores if engine.device == "cpu" else 1)
    return engine.start_s + input_bytes / _GIB / min(IO_GIB_S[work], rate)


def _torch_installed() -> bool:
    try:
        return importlib.util.find_spec("torch") is not None
    except ValueError:  # torch in sys.modules as None (blocked)
        return False


def choose_engine(requested: str, work: str, input_bytes: int) -> Engine:
    """The fastest engine `requested` allows; `cuda` is refused when torch sees no CUDA device.

    `requested` is auto, cpu or cuda (the CLI's choices), or an engine name (benchmarks and tests); `work` is a
    `workload` key.
    """
    by_name = {e.name: e for e in ENGINES}
    if requested not in ("auto", "cpu", *by_name):
        raise user_error("--device", f"{requested!r} is not one of auto, cpu, cuda", hint="use --device auto")
    if requested == "numpy":
        return by_name["numpy"]
    if requested == "torch-cpu":
        require_torch()
        return by_name["torch-cpu"]
    if requested == "cuda":
        torch = require_torch()
        if not torch.cuda.is_available():
            raise user_error(
                "--device", "cuda was requested but torch sees no CUDA device", hint="use --device auto or cpu"
            )
        return by_name["cuda"]
    names = ["numpy"]
    if _torch_installed():
        names.append("torch-cpu")
        if requested == "auto" and gpu_visible():
            names.append("cuda")
    cores = usable_cores()
    ranked = sorted((by_name[n] for n in names), key=lambda e: estimate_seconds(e, work, input_bytes, cores))
    for engine in ranked:
        if engine.name == "numpy":
            return engine
        try:
            torch = require_torch()
        except Exception:  # a broken torch install: the numpy engine needs none
            continue
        if engine.name == "torch-cpu" or torch.cuda.is_available():
            return engine
    return by_name["numpy"]


def default_workers(engine: Engine) -> int:
    """Threads over tensors: one per core on CPU (math-bound); on CUDA enough to overlap disk, PCIe and GPU."""
    return 8 if engine.device == "cuda" else min(usable_cores(), 32)
