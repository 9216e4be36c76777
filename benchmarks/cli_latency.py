"""Cold-start latency of `recipe-runner plan` next to the bare import of its two big dependencies.

    python benchmarks/cli_latency.py [--runs 15] [--recipe qwen3-30b-a3b-int4]

Each sample is a fresh interpreter (what a user pays per command). The baseline,
`python -c "import hydra, pydantic"`, is the floor the composition stack imposes. The commands are
sampled interleaved (baseline, plan, ... in turn), so load from other processes hits all of them alike,
and the best of N is reported with the ratio to the baseline's best: on a shared host the minimum is
the least noisy estimate of the work itself. Bytecode is written and used, as for an installed package.
`plan` runs with the compose cache warm (the common case: the same recipe files as last time) and with it
off (RECIPE_RUNNER_NO_CACHE=1: first run, or edited files).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def sample(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--recipe", default="qwen3-30b-a3b-int4")
    args = ap.parse_args()
    cache = tempfile.mkdtemp(prefix="rr-cache-")
    # Bytecode on, as in an installed package (pip compiles it); a PYTHONDONTWRITEBYTECODE=1 shell would
    # otherwise make every sample compile our modules from source, which the site-packages baseline never does.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    warm = {**env, "RECIPE_RUNNER_CACHE_DIR": cache}
    off = {**env, "RECIPE_RUNNER_NO_CACHE": "1"}
    cli = [sys.executable, "-m", "recipe_runner.cli"]
    plan = [*cli, "plan", args.recipe, "--format", "json"]
    cases = {
        'python -c "import hydra, pydantic"': ([sys.executable, "-c", "import hydra, pydantic"], warm),
        f"recipe-runner plan {args.recipe} --format json": (plan, warm),
        f"recipe-runner plan {args.recipe} --format json (no cache)": (plan, off),
        f"recipe-runner validate {args.recipe}": ([*cli, "validate", args.recipe], warm),
        "recipe-runner convert --help": ([*cli, "convert", "--help"], warm),
    }
    for cmd, env in cases.values():
        sample(cmd, env)  # warm the OS page cache and the compose cache, as a user's second command would
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, (cmd, env) in cases.items():
            times[name].append(sample(cmd, env))
    base = min(next(iter(times.values())))
    print(f"| command | best (s) | median (s) | best / baseline best |   ({args.runs} interleaved runs each, "
          f"{sys.platform}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print("|---|---|---|---|")
    for name, ts in times.items():
        print(f"| `{name}` | {min(ts):.3f} | {statistics.median(ts):.3f} | {min(ts) / base:.2f}x |")


if __name__ == "__main__":
    main()
