"""The `--sglang-*` flags slime accepts: SGLang's own ServerArgs options, re-registered with a prefix.

slime re-registers every ServerArgs option `--foo` as `--sglang-foo`, except the ones it sets itself, and adds
a few of its own (THUDM/slime@624b824a:slime/backends/sglang_utils/arguments.py:16-121; reference §3.5).

The list of ServerArgs options is data (`data/sglang-server-args.txt`, with its sglang version): the sglang
wheel does not import `sglang.srt.server_args` on a CPU machine without a dozen more packages. The file is
generated from the real ServerArgs of the pinned sglang plus the fields slime's docker/patch/latest/sglang*.patch
add, by tests/conformance/regen_sglang_args.py in the conformance environment (docs/conformance.md).
tests/test_sglang_flags.py compares it with the live parser when sglang is importable.
"""

from __future__ import annotations

from functools import cache

from recipe_runner.resources import shipped

DATA = shipped("data") / "sglang-server-args.txt"

# ServerArgs dests slime sets itself: no --sglang- flag (slime/backends/sglang_utils/arguments.py:51-69).
SLIME_SETS = frozenset({"model_path", "config", "trust_remote_code", "random_seed", "enable_memory_saver", "tp_size",
                        "port", "nnodes", "node_rank", "dist_init_addr", "gpu_id_step", "base_gpu_id", "nccl_port",
                        "skip_server_warmup", "enable_return_routed_experts"})
# slime's own --sglang-* flags (slime/backends/sglang_utils/arguments.py:16-47; --sglang-config: reference §3.8 V-S3).
SLIME_OWN = frozenset({"--sglang-router-ip", "--sglang-router-port", "--sglang-router-request-timeout-secs",
                       "--sglang-server-concurrency", "--sglang-config"})


def sglang_version() -> str:
    return DATA.read_text().split()[2]


def server_args() -> dict[str, str]:
    """SGLang ServerArgs option -> dest, from the data file."""
    rows = (line.split() for line in DATA.read_text().splitlines() if line and not line.startswith("#"))
    return {flag: dest for flag, dest in rows}


@cache
def slime_sglang_flags() -> frozenset[str]:
    """Every --sglang-* flag slime's argument parser accepts."""
    passthrough = {"--sglang-" + flag[2:] for flag, dest in server_args().items() if dest not in SLIME_SETS}
    return frozenset(passthrough | SLIME_OWN)


def unknown_flags(argv: list[str] | tuple[str, ...]) -> list[str]:
    """The --sglang-* tokens of argv (`--flag` or `--flag=value`) that slime's parsers do not define.

    slime would not reject them: it reads argv with parse_known_args, so they are dropped silently
    (THUDM/slime@624b824a:slime/backends/sglang_utils/arguments.py:204-226)."""
    known = slime_sglang_flags()
    return [a for a in argv if a.startswith("--sglang-") and a.split("=", 1)[0] not in known]
