"""Time of `recommend`: the search alone (in-process, after imports) and the whole command.

    python benchmarks/recommend.py [--runs 5]

Cases: Kimi-K2-Thinking on 32x8 H200 (the issue's target: under 2 s on 2 cores), Qwen3-235B-A22B on
4x8 H100, Qwen3-30B-A3B on 1x8 H200. The baseline printed beside them is `python -c "import hydra,
pydantic"` in the same run, the floor of every command. CPU time (user+sys of the child) is printed
too: on a shared machine it is steadier than wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

CASES = (("kimi-k2-thinking", "H200", 32), ("qwen3-235b-a22b", "H100", 4), ("qwen3-30b-a3b", "H200", 1))


def whole(cmd: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one fresh interpreter running `cmd`."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def search_only(model: str, gpu: str, nodes: int, runs: int) -> tuple[float, int]:
    """Median seconds of the search with the base recipe already resolved, and candidates checked."""
    from recipe_runner.recommend import Request, base_recipe, recommend
    from recipe_runner.resolve import resolve

    name, overrides = base_recipe(model, None)
    base = resolve(name, overrides)
    times, evaluated = [], 0
    for _ in range(runs):
        start = time.process_time()
        evaluated = recommend(base, Request(gpu, nodes)).evaluated
        times.append(time.process_time() - start)
    return statistics.median(times), evaluated


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    base_cmd = [sys.executable, "-c", "import hydra, pydantic"]
    print(f"| case | search CPU s (median of {args.runs}) | candidates | command wall s | command CPU s |")
    print("|---|---|---|---|---|")
    floor = [whole(base_cmd) for _ in range(args.runs)]
    print(f"| `python -c \"import hydra, pydantic\"` | - | - | {min(w for w, _ in floor):.2f} | "
          f"{min(c for _, c in floor):.2f} |")
    for model, gpu, nodes in CASES:
        search, evaluated = search_only(model, gpu, nodes, args.runs)
        cmd = [sys.executable, "-m", "recipe_runner.cli", "recommend", model, "--gpus", gpu, "--nodes", str(nodes)]
        samples = [whole(cmd) for _ in range(args.runs)]
        print(f"| {model} on {nodes}x8 {gpu} | {search:.2f} | {evaluated} | {min(w for w, _ in samples):.2f} | "
              f"{min(c for _, c in samples):.2f} |")


if __name__ == "__main__":
    main()
