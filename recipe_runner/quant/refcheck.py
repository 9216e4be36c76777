"""The consumers' own dequantization of our output, in a process of its own started when `verify` starts.

Why a process: the reference packages (compressed-tensors, transformers) take 9-19 s to import on the H200
machine, 3.5-7 s on an idle laptop-class core (they pull in transformers' model-loading code, sympy,
torch._dynamo; docs/converter.md has the profile), all of it Python that holds the GIL. In a thread it
slowed the streaming checks; in a process it runs on its own core while `verify` streams its own checks
(which need no torch), and it reads the output files itself (page cache warm).

What it compares, and why that suffices: our dequantization and the consumer's are per-element functions
of the same stored bytes, so they can only disagree on how the bytes are laid out and interpreted (scale
indexing, tile and group boundaries, nibble order, code offset, dtypes) or on values that verify's own
per-element checks refuse anyway (NaN/Inf, code -8). Every quantized tensor's first and last row block
(FP8: a 128-row tile row, the partial last one included; INT4: one row, all its groups) exercise its
layout, shape and dtypes; `--full-reference` compares every element (slow: the references run unfused
torch ops, 4-10 ns per element per core). Row blocks of tensors of one width are batched into one call
(each call costs the reference 0.1-4 ms of Python).

Protocol: `python -m recipe_runner.quant.refcheck DST [--full]` prints one JSON object
{"reference": name or null, "problems": [...], "elements": n, "seconds": {"import": s, "compare": s}}.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from recipe_runner.formats import Fp8Params, Params

from . import reference
from .device import usable_cores
from .source import open_checkpoint
from .verify_plan import _Work, plan_modules, read_mode
from .verify_stream import Reader, dequantize, module_slabs, read_slab

BATCH_ELEMENTS = 1 << 21
_PACKAGES = {"fp8": ("transformers", "compressed_tensors"), "int4": ("compressed_tensors",)}


@dataclass(frozen=True)
class RefResult:
    reference: str | None  # which consumer code agreed (names joined), None when none is installed
    problems: tuple[str, ...]
    elements: int  # elements the reference dequantized
    seconds: dict[str, float]


class ReferenceRun:
    """The child process; `result()` waits for it, `stop()` ends it (on error or interrupt)."""

    def __init__(self, proc: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        self.proc, self.stderr = proc, stderr

    def result(self) -> RefResult:
        out, _ = self.proc.communicate()
        self.stderr.seek(0)
        err = self.stderr.read().decode(errors="replace").strip()
        try:
            data = json.loads(out)
        except ValueError:
            last = err.splitlines()[-1] if err else f"exit {self.proc.returncode}, no output"
            return RefResult(None, (f"the reference check failed: {last}",), 0, {})
        return RefResult(data["reference"], tuple(data["problems"]), data["elements"], data["seconds"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


class InlineRun:
    """The same check in a thread of this process, when its caller already imported the reference packages
    (a library user, a test session): the child's only reason to exist is their import time."""

    def __init__(self, root: Path, full: bool) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.future = self.pool.submit(run, root, full)

    def result(self) -> RefResult:
        data = self.future.result()
        return RefResult(data["reference"], tuple(data["problems"]), data["elements"], data["seconds"])

    def stop(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a finder that refuses the name (an import hook, a broken install)
        return False


def start(root: Path, mode: str, full: bool) -> ReferenceRun | InlineRun | None:
    """Start the reference check of checkpoint `root`; None when no reference package is installed."""
    if not _installed("torch") or not any(_installed(p) for p in _PACKAGES[mode]):
        return None
    if all(m in sys.modules for m in reference.modules(mode)):
        return InlineRun(root, full)
    safe_path = ["-P"] if sys.version_info >= (3, 11) else []  # not the cwd on sys.path: it is the user's
    argv = [sys.executable, *safe_path, "-m", __name__, str(root.resolve()), *(["--full"] if full else [])]
    stderr = tempfile.TemporaryFile()  # a pipe nobody reads could fill up and stall the child
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr)
    return ReferenceRun(proc, stderr)


# ---- the child -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Block:
    name: str  # the module's weight name
    work: _Work
    r0: int
    r1: int


def _blocks(work: list[_Work], params: Params, full: bool) -> list[_Block]:
    """Row blocks to compare: every slab with `full`, else each module's first and last row block."""
    rows = params.block_size[0] if isinstance(params, Fp8Params) else 1
    out = []
    for w in work:
        t = next(iter(w.parts.values()))[1]
        if w.kind == "copy" or not t.shape[0] or not t.shape[1]:  # empty: nothing to compare (transformers / 0)
            continue
        if full:
            spans = list(module_slabs(w, rows, BATCH_ELEMENTS))
        else:
            n = t.shape[0]
            last = (n - 1) // rows * rows
            spans = [(0, min(rows, n))] + ([(last, n)] if last > 0 else [])
        out += [_Block(w.name, w, r0, r1) for r0, r1 in spans]
    return out


def _batches(blocks: list[_Block], params: Params) -> list[list[_Block]]:
    """Blocks that can stand one under another as one weight: same width, and for FP8 whole tile rows
    (a partial tile row goes alone); up to BATCH_ELEMENTS each."""
    groups: dict[tuple[Any, ...], list[_Block]] = defaultdict(list)
    out: list[list[_Block]] = []
    for b in blocks:
        t = next(iter(b.work.parts.values()))[1]
        if isinstance(params, Fp8Params):
            if b.r1 - b.r0 != params.block_size[0]:
                out.append([b])
                continue
            key: tuple[Any, ...] = (t.shape[1],)
        else:
            key = (t.shape[1], b.work.parts["weight_scale"][1].dtype)
        groups[key].append(b)
    for key, members in groups.items():
        width = key[0] * (8 if not isinstance(params, Fp8Params) else 1)
        batch: list[_Block] = []
        for b in members:
            if batch and (sum(x.r1 - x.r0 for x in batch) + b.r1 - b.r0) * width > BATCH_ELEMENTS:
                out.append(batch)
                batch = []
            batch.append(b)
        out.append(batch)
    return out


def _compare(reader: Reader, batch: list[_Block], params: Params, refs: _Refs) -> tuple[list[str], str | None, int]:
    """Ours (npmath) against the consumer's on the batch's rows stacked; problems, reference name, elements."""
    import torch

    parts = [read_slab(reader, b.work, b.r0, b.r1, params) for b in batch]
    codes, scales = np.concatenate([c for c, _ in parts]), np.concatenate([s for _, s in parts])
    mine = dequantize(batch[0].work, codes, scales, params)[0]  # one call: the batch shares width and dtypes
    rows, k = mine.shape
    if isinstance(params, Fp8Params):
        q = torch.from_numpy(codes).view(torch.float8_e4m3fn)
        s = torch.from_numpy(scales).view(torch.float32)
        ref = refs.fp8((rows, k))
        tensors = {"weight": q, "weight_scale_inv": s}
    else:
        dtype = batch[0].work.parts["weight_scale"][1].dtype
        packed = torch.from_numpy(codes).view(torch.int32)
        scale = torch.from_numpy(scales).view(getattr(torch, _TORCH[dtype]))
        ref = refs.int4()
        tensors = {"weight_packed": packed, "weight_scale": scale, "weight_shape": torch.tensor([rows, k])}
    if ref is None:
        return [], None, 0
    names = sorted({b.name for b in batch})
    what = names[0] + (f" (and {len(names) - 1} more of width {k})" if len(names) > 1 else "")
    try:
        theirs = ref[1](tensors).float().numpy()
    except Exception as e:  # a third-party API change must read as a finding, not a crash
        return [f"{what}: {ref[0]} could not dequantize it ({type(e).__name__}: {e})"], ref[0], 0
    if theirs.shape == mine.shape and np.array_equal(theirs, mine):
        return [], ref[0], mine.size
    if theirs.shape != mine.shape:
        return [f"{what}: {ref[0]} returned shape {list(theirs.shape)}, expected {[rows, k]}"], ref[0], 0
    bad_rows = np.flatnonzero((theirs != mine).any(axis=1))
    bad, start = set(), 0
    for b in batch:
        if np.any((bad_rows >= start) & (bad_rows < start + b.r1 - b.r0)):
            bad.add(b.name)
        start += b.r1 - b.r0
    return [f"{n}: our dequantization differs from {ref[0]}" for n in sorted(bad)], ref[0], mine.size


_TORCH = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


class _Refs:
    """The consumer's dequantizers the batches need, made (and their packages imported) once, up front:
    FP8 batches of whole tiles use transformers' and others compressed-tensors', so an FP8 checkpoint of
    whole tiles never imports compressed-tensors (2-3 s)."""

    def __init__(self, params: Params, raw: dict[str, Any], batches: list[list[_Block]]) -> None:
        self.params = params
        self.config_problem = ""
        self._int4: tuple[str, reference.Dequant] | None = None
        self._fp8: dict[bool, tuple[str, reference.Dequant] | None] = {}
        if isinstance(params, Fp8Params):
            for batch in batches:
                shape = _shape(batch, params)
                if self._tiled(shape) not in self._fp8:
                    self._fp8[self._tiled(shape)] = reference.fp8_reference(params.block_size, shape)
        elif batches:
            try:
                self._int4 = reference.int4_reference(raw)
            except ValueError as e:  # pydantic's ValidationError: a field we do not read is malformed
                self.config_problem = f"config.json: compressed-tensors cannot read this quantization_config: {e}"

    def _tiled(self, shape: tuple[int, int]) -> bool:
        block = self.params.block_size  # type: ignore[union-attr]
        return shape[0] % block[0] == 0 and shape[1] % block[1] == 0

    def int4(self) -> tuple[str, reference.Dequant] | None:
        return self._int4

    def fp8(self, shape: tuple[int, int]) -> tuple[str, reference.Dequant] | None:
        return self._fp8[self._tiled(shape)]


def _shape(batch: list[_Block], params: Params) -> tuple[int, int]:
    """The weight shape the batch's rows make, stacked."""
    t = next(iter(batch[0].work.parts.values()))[1]
    return sum(b.r1 - b.r0 for b in batch), t.shape[1] * (1 if isinstance(params, Fp8Params) else 8)


def run(root: Path, full: bool) -> dict[str, Any]:
    """The child's work: import the references, plan from the headers, compare; the JSON report."""
    t0 = time.monotonic()
    import torch

    ckpt = open_checkpoint(root)
    qc = read_mode(ckpt)
    params = qc.params
    batches = _batches(_blocks(plan_modules(ckpt, None, qc).work, params, full), params)
    refs = _Refs(params, qc.raw, batches)
    t1 = time.monotonic()
    reader = Reader()
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # parallel over batches
    try:
        with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
            results = list(pool.map(lambda b: _compare(reader, b, params, refs), batches))
    finally:
        torch.set_num_threads(previous)
        reader.close()
    problems = ([refs.config_problem] if refs.config_problem else []) + [p for r in results for p in r[0]]
    names = sorted({r[1] for r in results if r[1]})
    return {"reference": ", ".join(names) or None, "problems": problems, "elements": sum(r[2] for r in results),
            "seconds": {"import": round(t1 - t0, 3), "compare": round(time.monotonic() - t1, 3)}}


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), "--full" in sys.argv[2:])))
