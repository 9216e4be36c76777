"""Runs in the conformance environment (tests/conformance/setup_env.sh), not in CI's Python.

Reads cases (JSON: [{"id", "train_args", "env", "model_config", "gpu_capability"}, "kind"?]) from argv[1], runs
slime's real `parse_args` on each (a "torch-dist" case: the argument handling of slime's converter tool) through
`recipe_runner.doctor.run_slime_parser` (the same code `doctor --slime` and launch's pre-flight run), and writes
one JSON list of results to argv[4] (stdout belongs to what slime and Megatron print). argv[2] and argv[3] are the
slime and Megatron-LM checkouts.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cpu_stand_ins() -> None:
    """What a CPU machine lacks for importing sglang: torchvision's compiled ops.

    The torchvision wheel on the package index is built against CUDA torch; on the CPU torch its `_C` does not load,
    and its import then fails registering fake kernels for two ops it never defined. Defining those two schemas lets
    it import; no image op runs while parsing arguments."""
    import torch

    lib = torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor")
    cpu_stand_ins.lib = lib  # keep the definitions alive


def converter_get_args(slime: str):
    """The argument handling of slime's HF -> torch_dist converter, its own code: `add_convertion_args` and
    `get_args` (THUDM/slime@624b824a:tools/convert_hf_to_torch_dist.py:21-78: Megatron's parse_args with the tool's
    arguments, slime's set_default_megatron_args, the pipeline size it picks from WORLD_SIZE, Megatron's
    validate_args), executed from the tool's source without its module imports (they load the GPU model code)."""
    import ast
    import os

    from megatron.training.arguments import parse_args, validate_args
    from slime.backends.megatron_utils.arguments import set_default_megatron_args

    path = Path(slime) / "tools" / "convert_hf_to_torch_dist.py"
    tree = ast.parse(path.read_text())
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in ("add_convertion_args", "get_args")]
    namespace = {"os": os, "parse_args": parse_args, "validate_args": validate_args,
                 "set_default_megatron_args": set_default_megatron_args}
    exec(compile(ast.Module(wanted, []), str(path), "exec"), namespace)
    return namespace["get_args"]


def main(argv: list[str]) -> int:
    cases = json.loads(Path(argv[1]).read_text())
    sys.path[:0] = [argv[2], argv[3], str(REPO)]
    cpu_stand_ins()
    from slime.utils.arguments import parse_args

    from recipe_runner.doctor import run_slime_parser

    converter = converter_get_args(argv[2])
    results = []
    for case in cases:
        parser = converter if case.get("kind") == "torch-dist" else parse_args
        r = run_slime_parser(parser, case["train_args"], case["env"], case["model_config"],
                             case["gpu_capability"], case.get("run_config", ""))
        results.append({"id": case["id"], **asdict(r)})
        print(f"{case['id']}: {r.error or 'OK'} {r.unconsumed or ''} {r.abbreviated or ''}", file=sys.stderr)
    Path(argv[4]).write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
