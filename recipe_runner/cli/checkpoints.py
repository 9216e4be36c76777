"""`convert`, `verify`, `inspect`: the checkpoint converter's commands (recipe_runner/quant).

The entry point builds a parser of these alone for them, so their start-up loads no Hydra, pydantic or
plan module; torch and safetensors load only inside the engines that need them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from recipe_runner.formats import Bf16Params, Fp8Params, Int4Params, Params
from recipe_runner.formats.fp8_block import FP8_BLOCK
from recipe_runner.formats.int4_pack import INT4_DEFAULT_IGNORE
from recipe_runner.quant.convert import convert_checkpoint
from recipe_runner.quant.failures import os_failure
from recipe_runner.quant.signals import Interrupted
from recipe_runner.quant.summary import inspect_checkpoint

_GIB = 1024**3


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `convert {fp8,int4,bf16}`, `verify` and `inspect` to the CLI's subparsers."""
    convert = subparsers.add_parser(
        "convert",
        help="convert a BF16 HF checkpoint to FP8 block or INT4, or an FP8/INT4 release back to BF16",
        description="Streaming, bounded-memory checkpoint conversion.",
    )
    modes = convert.add_subparsers(dest="convert_mode", required=True, metavar="{fp8,int4,bf16}")

    fp8 = modes.add_parser("fp8", help="DeepSeek-V3-style block FP8 (e4m3 + float32 weight_scale_inv)")
    _common(fp8)
    fp8.add_argument(
        "--block-size",
        type=int,
        nargs=2,
        default=list(FP8_BLOCK),
        metavar=("N", "K"),
        help=f"tile size (default: {FP8_BLOCK[0]} {FP8_BLOCK[1]}, what SGLang/vLLM/slime expect)",
    )
    fp8.set_defaults(func=_convert, make_params=_fp8_params)

    int4 = modes.add_parser("int4", help="symmetric group INT4, compressed-tensors pack-quantized")
    _common(int4)
    int4.add_argument(
        "--group-size",
        type=int,
        required=True,
        metavar="G",
        help="input columns per scale (slime QAT: OPEN_TRAINING_INT4_GROUP_SIZE, usually 128)",
    )
    int4.add_argument(
        "--ignore",
        action="extend",
        nargs="+",
        default=[],
        metavar="RULE",
        help="extra tensors to keep in BF16: a name prefix or re:<regex> (added to the defaults)",
    )
    int4.add_argument(
        "--no-default-ignore",
        action="store_true",
        help="drop slime's default rules (keep only routed experts quantized) and use --ignore alone",
    )
    int4.set_defaults(func=_convert, make_params=_int4_params)

    bf16 = modes.add_parser(
        "bf16",
        help="dequantize a block-FP8 or INT4 pack-quantized checkpoint (format read from its config.json) to BF16",
        description="Dequantize an FP8-block (DeepSeek-V3 style) or symmetric INT4 pack-quantized (Kimi-K2-Thinking "
        "style) checkpoint to BF16, bit-exact to slime's fp8_cast_bf16.py / convert_k2_thinking_int4_to_bf16.py; "
        "the output's config.json has no quantization_config.",
    )
    _common(bf16)
    bf16.set_defaults(func=_convert, make_params=_bf16_params)

    verify = subparsers.add_parser("verify", help="check a converted checkpoint and report its error")
    verify.add_argument("dst", type=Path, metavar="DST")
    verify.add_argument("--source", type=Path, metavar="SRC", help="the BF16 source, for error statistics")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument("--full-reference", action="store_true",
                        help="the consumer's dequantization of every element, not each tensor's first and last "
                        "row block (slow)")
    verify.set_defaults(func=_verify)

    inspect = subparsers.add_parser("inspect", help="format, quantization_config, tensors and sizes")
    inspect.add_argument("ckpt", type=Path, metavar="CKPT")
    inspect.add_argument("--json", action="store_true", help="print the summary as JSON")
    inspect.set_defaults(func=_inspect)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", type=Path, metavar="SRC")
    p.add_argument("dst", type=Path, metavar="DST")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "numpy", "torch-cpu"),
        default="auto",
        help="where the math runs (auto: the engine expected to finish first; cpu: the faster CPU engine; "
        "numpy, torch-cpu: that engine); output bytes are the same",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="parallel tensor workers (default: CPU cores, or 8 on CUDA)",
    )
    p.add_argument("--force", action="store_true", help="replace DST if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--allow-nonfinite",
        action="store_true",
        help="convert weights holding NaN/Inf instead of refusing them (their output is garbage)",
    )


def _params(args: argparse.Namespace) -> Params:
    return args.make_params(args)


def _fp8_params(args: argparse.Namespace) -> Params:
    return Fp8Params(tuple(args.block_size))


def _bf16_params(args: argparse.Namespace) -> Params:
    return Bf16Params()


def _int4_params(args: argparse.Namespace) -> Params:
    base = () if args.no_default_ignore else INT4_DEFAULT_IGNORE
    return Int4Params(args.group_size, tuple(dict.fromkeys((*base, *args.ignore))))


def _convert(args: argparse.Namespace) -> int:
    params = _params(args)
    try:
        r = convert_checkpoint(
            args.src, args.dst, params, device=args.device, workers=args.workers, force=args.force,
            progress=not args.quiet, reuse=True, allow_nonfinite=args.allow_nonfinite,
        )
    except Interrupted as e:
        print(f"error: stopped by {e}; {args.dst} was not written and no partial output was left", file=sys.stderr)
        return e.exit_code
    if r.reused:
        print(f"{args.dst} is already this conversion of {args.src} (conversion.json and its files match); "
              "nothing to do")
        return 0
    rate = r.input_bytes / _GIB / max(r.seconds, 1e-9)
    done = "dequantized" if r.mode == "bf16" else "quantized"
    print(
        f"converted {args.src} -> {r.dst} ({r.mode}): {r.quantized} tensors {done}, {r.kept} kept; "
        f"{r.input_bytes / _GIB:.2f} GiB -> {r.output_bytes / _GIB:.2f} GiB in {r.seconds:.2f} s "
        f"({rate:.2f} GiB/s, {r.engine}, {r.workers} workers)"
    )
    for name in r.skipped:
        print(f"  not copied (subdirectory): {name}", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from recipe_runner.quant.verify import verify_checkpoint  # numpy: only `verify` needs it

    try:
        r = verify_checkpoint(args.dst, args.source, full_reference=args.full_reference)
    except OSError as e:
        raise os_failure(e, args.dst, f"verifying {args.dst}") from e
    if args.json:
        print(
            json.dumps(
                {
                    "dst": str(r.dst),
                    "mode": r.mode,
                    "ok": r.ok,
                    "reference": r.reference,
                    "reference_elements": r.reference_elements,
                    "reference_seconds": r.reference_seconds,
                    "overall_rel_error": r.overall_rel_error,
                    "problems": list(r.problems),
                    "tensors": [t.__dict__ for t in r.tensors],
                },
                indent=2,
            )
        )
        return 0 if r.ok else 1
    quantized = [t for t in r.tensors if t.kind != "copy"]
    done = "dequantized" if r.mode == "bf16" else "quantized"
    print(f"{r.dst}: {r.mode}, {len(quantized)} {done} tensors checked, reference: {r.reference}"
          + (f" ({r.reference_elements} elements)" if r.reference_elements else ""))
    if r.overall_rel_error is not None:
        print(f"  overall relative error vs source: {r.overall_rel_error:.4f}")
        for t in sorted(quantized, key=lambda t: -(t.rel_error or 0))[:5]:
            print(f"  {t.rel_error:.4f} rel, {t.max_abs_error:.3g} max abs  {t.name}")
    for p in r.problems:
        print(f"  problem: {p}", file=sys.stderr)
    print("OK" if r.ok else f"FAILED: {len(r.problems)} problem(s)")
    return 0 if r.ok else 1


def _inspect(args: argparse.Namespace) -> int:
    try:
        s = inspect_checkpoint(args.ckpt)
    except OSError as e:
        raise os_failure(e, args.ckpt, f"inspecting {args.ckpt}") from e
    if args.json:
        print(json.dumps(s.to_json(), indent=2))
        return 0
    print(f"{s.root}: {s.format}")
    print(
        f"  {s.shards} shard(s), {s.tensors} tensors: {s.quantized} quantized, {s.kept} kept; "
        f"{s.total_bytes / _GIB:.3f} GiB"
    )
    for dtype, n in s.bytes_by_dtype.items():
        print(f"  {dtype:8s} {n / _GIB:10.3f} GiB")
    if s.quantization_config:
        print("  quantization_config: " + json.dumps(s.quantization_config))
    if s.conversion:
        c = s.conversion
        print(
            f"  converted by recipe-runner {c.get('tool_version')} ({c.get('mode')} {c.get('parameters')}) "
            f"from {c.get('source', {}).get('path')}"
        )
    return 0
