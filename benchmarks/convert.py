"""Conversion benchmark, whole process: `recipe-runner convert` as a user runs it, next to a plain copy.

Synthetic BF16 checkpoints with real Qwen3 names and shapes are converted to FP8 (Qwen3-8B-shaped
dense) and INT4 (Qwen3-30B-A3B-shaped MoE). Per run: the process's wall time from spawn to exit
(`process s`, what the user waits for), the conversion proper as the converter reports it
(`convert s`), their difference (`start s`: interpreter, imports, CUDA context, planning), the ratio
of the whole process to the plain copy of the same files, and peak RSS (wait4 rusage). The copy runs
first, after a warm-up copy, so both read a warm page cache; neither fsyncs; the copy is removed before
converting (disk space). `--device` takes the CLI's choices and engine names (numpy, torch-cpu).
`--bf16` also times `convert bf16` of the first device's FP8/INT4 output back to BF16 on every device; its
`copy s` is the copy of the BF16 source, which has the size of what the dequantization writes.

    python benchmarks/convert.py --workdir /tmp/bench --fp8-gib 2.6 --int4-gib 1.5 --shard-gib 1
    python benchmarks/convert.py --workdir /tmp/bench --fp8-gib 24 --int4-gib 24 --shard-gib 4 \
        --device auto numpy torch-cpu cuda --drop-sources
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
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


_LINE = re.compile(r" in (?P<s>[0-9.]+) s \([0-9.]+ GiB/s, (?P<engine>[a-z-]+), (?P<workers>[0-9]+) workers\)")


def import_seconds(module: str) -> float:
    """Wall time of `python -c "import MODULE"`, best of 3 (start-up cost on its own)."""
    times = []
    for _ in range(3):
        start = time.monotonic()
        subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
        times.append(time.monotonic() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, required=True)
    ap.add_argument("--fp8-gib", type=float, default=2.6, help="dense checkpoint size for FP8 (0: skip)")
    ap.add_argument("--int4-gib", type=float, default=1.5, help="MoE checkpoint size for INT4 (0: skip)")
    ap.add_argument("--shard-gib", type=float, default=1.0)
    ap.add_argument("--device", nargs="+", default=["auto"], help="auto cpu cuda numpy torch-cpu (several: each)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0], help="worker counts to try (0: default)")
    ap.add_argument("--drop-sources", action="store_true", help="delete each source after its runs (disk space)")
    ap.add_argument("--verify", action="store_true",
                    help="after the first device's conversion, time `recipe-runner verify DST --source SRC` too, "
                    "and once more without the reference check (profile)")
    ap.add_argument("--bf16", action="store_true",
                    help="also time `convert bf16` of the first device's output back to BF16, on every device")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = ap.parse_args()
    starts = {m: import_seconds(m) for m in ("numpy", "torch")}
    print(" ".join(f"import_{m}_s={v:.2f}" for m, v in starts.items()), flush=True)
    rows = []
    for mode, gib, moe in (("fp8", args.fp8_gib, False), ("int4", args.int4_gib, True)):
        if gib <= 0:
            continue
        src = args.workdir / f"src-{mode}-{gib}g-{args.shard_gib}s"
        if not src.exists():  # in a child: this process stays small, so children's ru_maxrss is their own
            subprocess.run([sys.executable, __file__, "_write", str(src), str(gib), str(args.shard_gib), str(moe)],
                           check=True)
        input_bytes = sum(p.stat().st_size for p in src.glob("*.safetensors"))
        copy_dst = args.workdir / "copy"
        shutil.rmtree(copy_dst, ignore_errors=True)
        plain_copy(src, copy_dst)  # warm the page cache
        shutil.rmtree(copy_dst)
        copy_s = plain_copy(src, copy_dst)
        shutil.rmtree(copy_dst)  # before converting: the copy would hold disk space the output needs
        for device in args.device:
            for w in args.workers:
                dst = args.workdir / f"out-{mode}"
                res = run_child(mode, src, dst, device, w)
                first = device == args.device[0] and w == args.workers[0]
                verify = run_verify(src, dst) if args.verify and first else None
                alone = run_verify(src, dst, alone=True) if args.verify and first else None
                back = [run_bf16(dst, args.workdir / "out-bf16", d, w) for d in args.device] \
                    if args.bf16 and first else []
                quantized_bytes = sum(p.stat().st_size for p in dst.glob("*.safetensors"))
                shutil.rmtree(dst)
                for d, r16 in zip(args.device, back, strict=False):  # back: empty without --bf16
                    rows.append({
                        "mode": f"bf16 (from {mode})", "model": "qwen3-moe" if moe else "qwen3-dense",
                        "input_gib": quantized_bytes / GIB, "shard_gib": args.shard_gib, "device": d,
                        **{k: r16[k] for k in ("engine", "workers", "process_s", "convert_s")},
                        "start_s": r16["process_s"] - r16["convert_s"], "copy_s": copy_s,
                        "process_vs_copy": r16["process_s"] / copy_s, "peak_rss_gib": r16["rss"] / GIB,
                    })  # fmt: skip
                    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
                                   for k, v in rows[-1].items()), flush=True)
                row = {
                    "mode": mode,
                    "model": "qwen3-moe" if moe else "qwen3-dense",
                    "input_gib": input_bytes / GIB,
                    "shard_gib": args.shard_gib,
                    "device": device,
                    **{k: res[k] for k in ("engine", "workers", "process_s", "convert_s")},
                    "start_s": res["process_s"] - res["convert_s"],
                    "copy_s": copy_s,
                    "process_vs_copy": res["process_s"] / copy_s,
                    "peak_rss_gib": res["rss"] / GIB,
                }
                if verify:
                    row.update(verify_s=verify["s"], verify_vs_convert=verify["s"] / res["process_s"],
                               verify_rss_gib=verify["rss"] / GIB, verify_reference=verify["reference"],
                               ref_import_s=verify["ref_import_s"], ref_compare_s=verify["ref_compare_s"],
                               ref_elements=verify["ref_elements"], verify_alone_s=alone["s"] if alone else None)
                rows.append(row)
                print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                      flush=True)
        if args.drop_sources:
            shutil.rmtree(src)
    print(
        "\n| mode | model | input GiB | --device | engine | workers | process s | start s | convert s | copy s | "
        "process/copy | peak RSS GiB |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['mode']} | {r['model']} | {r['input_gib']:.2f} | {r['device']} | {r['engine']} | {r['workers']} | "
            f"{r['process_s']:.2f} | {r['start_s']:.2f} | {r['convert_s']:.2f} | {r['copy_s']:.2f} | "
            f"{r['process_vs_copy']:.2f}x | {r['peak_rss_gib']:.2f} |"
        )
    checked = [r for r in rows if "verify_s" in r]
    if checked:
        print("\n| mode | input GiB | convert process s | verify process s | verify/convert | verify peak RSS GiB "
              "(both processes) | reference import s | reference compare s | reference elements | "
              "without reference s | reference |\n|---|---|---|---|---|---|---|---|---|---|---|")
        for r in checked:
            print(f"| {r['mode']} | {r['input_gib']:.2f} | {r['process_s']:.2f} | {r['verify_s']:.2f} | "
                  f"{r['verify_vs_convert']:.2f}x | {r['verify_rss_gib']:.2f} | {r['ref_import_s']} | "
                  f"{r['ref_compare_s']} | {r['ref_elements']} | {r['verify_alone_s']:.2f} | "
                  f"{r['verify_reference']} |")
    if args.json:
        args.json.write_text(json.dumps({"imports": starts, "rows": rows}, indent=2))


def run_bf16(src: Path, dst: Path, device: str, workers: int) -> dict:
    """`convert bf16` into an absent DST: with the last device's output still there, `--force` would count
    deleting it (4-9 s for 16 GiB on the H200 machine) in this run's start-up."""
    shutil.rmtree(dst, ignore_errors=True)
    try:
        return run_child("bf16", src, dst, device, workers)
    finally:
        shutil.rmtree(dst, ignore_errors=True)


def run_child(mode: str, src: Path, dst: Path, device: str, workers: int) -> dict:
    """The CLI in a fresh process, with its own peak RSS from wait4."""
    argv = [sys.executable, "-m", "recipe_runner.cli", "convert", mode, str(src), str(dst), "--force", "--quiet"]
    argv += ["--group-size", "128"] if mode == "int4" else []
    argv += ["--device", device] + (["--workers", str(workers)] if workers else [])
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"convert failed: {argv}\n{err.decode()}")
    m = _LINE.search(out.decode())
    if m is None:
        raise SystemExit(f"unexpected convert output: {out.decode()}")
    return {"process_s": wall, "convert_s": float(m["s"]), "engine": m["engine"], "workers": int(m["workers"]),
            "rss": usage.ru_maxrss * 1024}


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and its descendants now (verify runs its reference check in a child)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:  # exited meanwhile
            continue
        total += next((int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        todo += [int(c) for c in children]
    return total


# verify's own checks alone (profile): as if compressed-tensors and transformers were not installed
_NO_REFERENCE = ("import sys; sys.modules.update(dict.fromkeys(('compressed_tensors', 'transformers'))); "
                 "from recipe_runner.cli import main; sys.exit(main(sys.argv[1:]))")


def run_verify(src: Path, dst: Path, alone: bool = False) -> dict:
    """`recipe-runner verify DST --source SRC --json` in a fresh process: wall time, the peak of its and its
    child's RSS together (sampled every 20 ms), the reference and its own import/compare seconds.
    `alone`: without the reference check (the streaming checks' own time)."""
    entry = ["-c", _NO_REFERENCE] if alone else ["-m", "recipe_runner.cli"]
    argv = [sys.executable, *entry, "verify", str(dst), "--source", str(src), "--json"]
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak, stop = [0], threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], tree_rss(proc.pid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, err = proc.communicate()
    wall = time.monotonic() - start
    stop.set()
    sampler.join()
    try:
        report = json.loads(out)
    except ValueError:
        report = {"reference": "crashed: " + err.decode().strip().splitlines()[-1:][0] if err.strip() else "crashed"}
    if proc.returncode:
        print(f"verify exit {proc.returncode}: {report.get('problems', [])[:3]}", flush=True)
    return {"s": wall, "rss": peak[0], "reference": report["reference"],
            "ref_import_s": report.get("reference_seconds", {}).get("import"),
            "ref_compare_s": report.get("reference_seconds", {}).get("compare"),
            "ref_elements": report.get("reference_elements")}


if __name__ == "__main__":
    if sys.argv[1:2] == ["_write"]:
        write_checkpoint(Path(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "True")
    else:
        main()
