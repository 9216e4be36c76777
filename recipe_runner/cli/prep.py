"""`torch-dist` (the plan's torch-dist step, as the scripts run it) and `export`: parse, call one api function."""

from __future__ import annotations

import argparse

from recipe_runner import api


def positive(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 1")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("torch-dist", help="convert a BF16 HF checkpoint to Megatron torch_dist with slime's tool "
                       "(the plan's torch-dist step; skipped when DST holds it)",
                       epilog="Options come first; every word after DST goes to slime's tool (the model args, and "
                       "the parallel sizes the plan picked). Example: torch-dist --slime /root/slime --pythonpath "
                       "/root/Megatron-LM --nproc-per-node 8 /data/Qwen3-4B /data/Qwen3-4B_torch_dist -- "
                       "--num-layers 36 ... (the plan's torch-dist step). With --nnodes N it runs torchrun on N "
                       "nodes of the Ray cluster at --ray-address (default: the one this node belongs to).")
    p.add_argument("hf", metavar="BF16", help="the BF16 Hugging Face checkpoint")
    p.add_argument("save", metavar="DST", help="the torch_dist directory to write")
    p.add_argument("--slime", required=True, metavar="DIR", help="slime's checkout (holds tools/)")
    p.add_argument("--pythonpath", default="", metavar="P1:P2", help="prepended to PYTHONPATH (Megatron-LM)")
    p.add_argument("--nproc-per-node", type=positive, default=1, metavar="N",
                   help="converter processes per node (torchrun)")
    p.add_argument("--nnodes", type=positive, default=1, metavar="N",
                   help="nodes, one torchrun each, through the Ray cluster (default 1: this node, no Ray)")
    p.add_argument("--gpus-per-node", type=int, metavar="G",
                   help="GPUs each node's torchrun asks Ray for (default: --nproc-per-node; 0 on a CPU-only cluster)")
    p.add_argument("--ray-address", metavar="HOST:PORT",
                   help="the Ray head's GCS address for --nnodes > 1 (default: the cluster of this node)")
    p.add_argument("model_args", nargs=argparse.REMAINDER, metavar="-- TOOL_ARGS",
                   help="Megatron model args, exactly the training run's (and the plan's parallel sizes)")
    p.intermixed = False  # the model args after `--` stay verbatim
    p.set_defaults(func=cmd_torch_dist)

    p = sub.add_parser("export", help="a run's saved torch_dist iteration -> Hugging Face, through slime's tool",
                       epilog="Example: export runs/exp1 --iteration 100 /data/exp1-iter100-hf")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run's bundle (plan --out / launch --out)")
    p.add_argument("dst", metavar="DST", help="the Hugging Face checkpoint to write (a new directory)")
    p.add_argument("--iteration", type=int, metavar="N", help="the saved iteration (default: the latest)")
    p.add_argument("--dry-run", action="store_true", help="print the command; run nothing")
    p.set_defaults(func=cmd_export)


def cmd_torch_dist(args: argparse.Namespace) -> int:
    model_args = args.model_args[1:] if args.model_args[:1] == ["--"] else args.model_args
    return api.torch_dist(args.hf, args.save, args.slime, [p for p in args.pythonpath.split(":") if p],
                          args.nproc_per_node, model_args, args.nnodes, args.gpus_per_node, args.ray_address)


def cmd_export(args: argparse.Namespace) -> int:
    print(api.export(args.run_dir, args.iteration, args.dst, args.dry_run))
    return 0
