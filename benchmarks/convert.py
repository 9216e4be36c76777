"""Conversion benchmark: synthetic BF16 checkpoints with real Qwen3 names and shapes, converted to FP8
(Qwen3-8B-shaped dense) and INT4 (Qwen3-30B-A3B-shaped MoE), next to a plain copy of the same files.

Reports per run: wall time, GiB/s of input, peak resident memory of the converting process (wait4
rusage of a fresh child), and the copy time (the I/O floor). The copy runs first, so both read a warm
page cache; neither fsyncs. The source is generated once per mode and reused.

    python benchmarks/convert.py --workdir /tmp/bench --fp8-gib 2.6 --int4-gib 1.5 --shard-gib 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

GIB = 1024**3
VOCAB = 151936
# Qwen3-8B (dense) and Qwen3-30B-A3B (MoE) dimensions, from their config.json
DENSE = {"hidden": 4096, "heads": 32, "kv_heads": 8, "head_dim": 128, "intermediate": 12288}
MOE = {"hidden": 2048, "heads": 32, "kv_heads": 4, "head_dim": 128, "moe_intermediate": 768, "experts": 128}


def layer_tensors(i: int, moe: bool) -> list[tuple[str, tuple[int, ...]]]:
    d = MOE if moe else DENSE
    h, p = d["hidden"], f"model.layers.{i}"
    out = [
        (f"{p}.input_layernorm.weight", (h,)),
        (f"{p}.post_attention_layernorm.weight", (h,)),
        (f"{p}.self_attn.q_proj.weight", (d["heads"] * d["head_dim"], h)),
        (f"{p}.self_attn.k_proj.weight", (d["kv_heads"] * d["head_dim"], h)),
        (f"{p}.self_attn.v_proj.weight", (d["kv_heads"] * d["head_dim"], h)),
        (f"{p}.self_attn.o_proj.weight", (h, d["heads"] * d["head_dim"])),
        (f"{p}.self_attn.q_norm.weight", (d["head_dim"],)),
        (f"{p}.self_attn.k_norm.weight", (d["head_dim"],)),
    ]
    if not moe:
        n = d["intermediate"]
        return out + [
            (f"{p}.mlp.{m}.weight", s) for m, s in (("gate_proj", (n, h)), ("up_proj", (n, h)), ("down_proj", (h, n)))
        ]
    n = d["moe_intermediate"]
    out.append((f"{p}.mlp.gate.weight", (d["experts"], h)))
    for e in range(d["experts"]):
        out += [
            (f"{p}.mlp.experts.{e}.{m}.weight", s)
            for m, s in (("gate_proj", (n, h)), ("up_proj", (n, h)), ("down_proj", (h, n)))
        ]
    return out


def model_tensors(total_gib: float, moe: bool) -> list[tuple[str, tuple[int, ...]]]:
    """Embedding, lm_head and final norm, plus as many layers as fit in `total_gib` of BF16."""
    h = (MOE if moe else DENSE)["hidden"]
    tensors = [("model.embed_tokens.weight", (VOCAB, h))]
    size = lambda ts: sum(2 * _numel(s) for _, s in ts)  # noqa: E731
    i = 0
    while size(tensors) + 2 * VOCAB * h + size(layer_tensors(i, moe)) <= total_gib * GIB or i == 0:
        tensors += layer_tensors(i, moe)
        i += 1
    return tensors + [("model.norm.weight", (h,)), ("lm_head.weight", (VOCAB, h))]


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def write_checkpoint(root: Path, total_gib: float, shard_gib: float, moe: bool) -> None:
    """Stream random-looking BF16 bytes (a 64 MiB random pool, cycled) into shards, with an index."""
    import torch

    from recipe_runner.quant.header import encode_header, layout_tensors

    root.mkdir(parents=True)
    pool = (torch.randn(32 << 20, generator=torch.Generator().manual_seed(0)) * 0.02).bfloat16()
    pool_bytes = memoryview(pool.view(torch.uint8).numpy())
    tensors = model_tensors(total_gib, moe)
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    for name, shape in tensors:
        if shards[-1] and sum(2 * _numel(s) for _, s in shards[-1]) + 2 * _numel(shape) > shard_gib * GIB:
            shards.append([])
        shards[-1].append((name, shape))
    weight_map, total = {}, 0
    for k, members in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        placed = layout_tensors([(n, "BF16", s) for n, s in members])
        with (root / fname).open("wb") as f:
            f.write(encode_header(placed, {"format": "pt"}))
            pos = 0
            for t in placed:
                left = t.end - t.begin
                while left:
                    chunk = pool_bytes[pos % len(pool_bytes) :][:left]
                    f.write(chunk)
                    pos, left = pos + len(chunk), left - len(chunk)
                weight_map[t.name] = fname
                total += t.end - t.begin
    (root / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})
    )
    model_type = "qwen3_moe" if moe else "qwen3"
    (root / "config.json").write_text(json.dumps({"model_type": model_type, "torch_dtype": "bfloat16"}))
    (root / "tokenizer.json").write_text("{}")


def plain_copy(src: Path, dst: Path) -> float:
    start = time.monotonic()
    dst.mkdir()
    for p in sorted(src.iterdir()):
        shutil.copyfile(p, dst / p.name)
    return time.monotonic() - start


def run_child(argv: list[str]) -> tuple[dict, float, int]:
    """Run a conversion in a fresh process; return its JSON result, wall time and peak RSS (bytes)."""
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, __file__, "_child", *argv], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"child failed ({proc.returncode}): {argv}")
    return json.loads(out), time.monotonic() - start, usage.ru_maxrss * 1024


def child(argv: list[str]) -> None:
    """Import first (not timed), then time the conversion alone."""
    mode, src, dst, device, workers = argv
    import torch  # noqa: F401  (import cost is excluded from the conversion time)

    from recipe_runner.quant.convert import convert_checkpoint
    from recipe_runner.quant.params import Fp8Params, Int4Params

    params = Fp8Params((128, 128)) if mode == "fp8" else Int4Params(128)
    r = convert_checkpoint(src, dst, params, device=device, workers=int(workers) or None, force=True, progress=False)
    print(
        json.dumps(
            {
                "seconds": r.seconds,
                "device": r.device,
                "workers": r.workers,
                "input": r.input_bytes,
                "output": r.output_bytes,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--fp8-gib", type=float, default=2.6, help="dense checkpoint size for FP8 (0: skip)")
    ap.add_argument("--int4-gib", type=float, default=1.5, help="MoE checkpoint size for INT4 (0: skip)")
    ap.add_argument("--shard-gib", type=float, default=1.0)
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--workers", type=int, nargs="+", default=[0], help="worker counts to try (0: default)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args()
    rows = []
    for mode, gib, moe in (("fp8", args.fp8_gib, False), ("int4", args.int4_gib, True)):
        if gib <= 0:
            continue
        src = args.workdir / f"src-{mode}-{gib}g-{args.shard_gib}s"
        if not src.exists():
            write_checkpoint(src, gib, args.shard_gib, moe)
        copy_dst = args.workdir / "copy"
        shutil.rmtree(copy_dst, ignore_errors=True)
        plain_copy(src, copy_dst)  # warm the page cache
        shutil.rmtree(copy_dst)
        copy_s = plain_copy(src, copy_dst)
        shutil.rmtree(copy_dst)
        for w in args.workers:
            dst = args.workdir / f"out-{mode}"
            res, wall, rss = run_child([mode, str(src), str(dst), args.device, str(w)])
            shutil.rmtree(dst)
            row = {
                "mode": mode,
                "model": "qwen3-moe" if moe else "qwen3-dense",
                "input_gib": res["input"] / GIB,
                "shard_gib": args.shard_gib,
                "device": res["device"],
                "workers": res["workers"],
                "convert_s": res["seconds"],
                "gib_per_s": res["input"] / GIB / res["seconds"],
                "process_s": wall,
                "copy_s": copy_s,
                "vs_copy": res["seconds"] / copy_s,
                "peak_rss_gib": rss / GIB,
            }
            rows.append(row)
            print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    print(
        "\n| mode | model | input GiB | shard GiB | device | workers | convert s | GiB/s | copy s | "
        "convert/copy | process s | peak RSS GiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['mode']} | {r['model']} | {r['input_gib']:.2f} | {r['shard_gib']:g} | {r['device']} | "
            f"{r['workers']} | {r['convert_s']:.2f} | {r['gib_per_s']:.2f} | {r['copy_s']:.2f} | "
            f"{r['vs_copy']:.2f}x | {r['process_s']:.2f} | {r['peak_rss_gib']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        child(sys.argv[2:])
    else:
        main()
