"""Cold-start latency of `recipe-runner plan` next to the bare import of its two big dependencies.

    python benchmarks/cli_latency.py [--runs 10] [--recipe qwen3-30b-a3b-int4]

Each sample is a fresh interpreter (what a user pays per command). The baseline,
`python -c "import hydra, pydantic"`, is the floor the composition stack imposes; the difference is
our own work (compose, validate, checks, plan, render).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def sample(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(cmd: list[str], runs: int) -> tuple[float, float]:
    sample(cmd)  # warm the OS page cache, as a user's second command would be
    times = [sample(cmd) for _ in range(runs)]
    return statistics.median(times), min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--recipe", default="qwen3-30b-a3b-int4")
    args = ap.parse_args()
    cases = {
        'python -c "import hydra, pydantic"': [sys.executable, "-c", "import hydra, pydantic"],
        f"recipe-runner plan {args.recipe} --format json": [
            sys.executable, "-m", "recipe_runner.cli", "plan", args.recipe, "--format", "json"],
        f"recipe-runner validate {args.recipe}": [
            sys.executable, "-m", "recipe_runner.cli", "validate", args.recipe],
    }
    print(f"| command | median (s) | min (s) |   ({args.runs} runs each, {sys.platform}, Python "
          f"{sys.version.split()[0]})")
    print("|---|---|---|")
    for name, cmd in cases.items():
        med, best = measure(cmd, args.runs)
        print(f"| `{name}` | {med:.3f} | {best:.3f} |")


if __name__ == "__main__":
    main()
