"""Stand-ins for slime's checkpoint tools (the real ones need GPUs and Megatron): a slime directory whose
tools/convert_hf_to_torch_dist.py and tools/convert_torch_dist_to_hf.py log their argv, cwd, PYTHONPATH and what
they read to $RR_TOOL_LOG, and write what the real ones leave behind (THUDM/slime@624b824a:
tools/convert_hf_to_torch_dist.py:131-140: `release` in latest_checkpointed_iteration.txt and release/;
tools/convert_torch_dist_to_hf.py: safetensors, index and the origin's config.json). RR_TOOL_FAIL=1 fails them.
Under torchrun (WORLD_SIZE > 1) the torch_dist stand-in joins the process group as the real tool does (gloo here:
tools/convert_hf_to_torch_dist.py:104-118 on torchrun's RANK/WORLD_SIZE/MASTER_ADDR), all-reduces its rank, and
only rank 0 writes the tracker after a barrier; an argument `--rr-fail-rank R` makes rank R exit 3 before joining
(an argument, not an env var: it reaches every node's task through the step's own argv)."""

from __future__ import annotations

import json
from pathlib import Path

TO_TORCH_DIST = """\
import json, os, sys
args = sys.argv[1:]
hf, save = args[args.index("--hf-checkpoint") + 1], args[args.index("--save") + 1]
config = json.load(open(os.path.join(hf, "config.json")))
with open(os.environ["RR_TOOL_LOG"], "a") as f:
    f.write(json.dumps({"tool": "to_torch_dist", "argv": args, "cwd": os.getcwd(), "model_type": config["model_type"],
                        "pythonpath": os.environ.get("PYTHONPATH", ""), "weights": sorted(os.listdir(hf))}) + "\\n")
if os.environ.get("RR_TOOL_FAIL"):
    sys.exit("stand-in converter: failing as asked")
world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
if world > 1:
    if "--rr-fail-rank" in args and args[args.index("--rr-fail-rank") + 1] == str(rank):
        sys.exit(3)
    import torch
    import torch.distributed as dist
    dist.init_process_group("gloo")
    total = torch.tensor([rank])
    dist.all_reduce(total)
    with open(os.environ["RR_TOOL_LOG"] + ".ranks", "a") as f:
        f.write(json.dumps({"rank": rank, "world": world, "sum": int(total), "argv": args,
                            "group_rank": int(os.environ["GROUP_RANK"]), "master": os.environ["MASTER_ADDR"]}) + "\\n")
os.makedirs(os.path.join(save, "release"), exist_ok=True)
open(os.path.join(save, "release", f"__{rank}_0.distcp"), "w").write("stand-in")
if world > 1:
    dist.barrier()
if rank == 0:
    open(os.path.join(save, "latest_checkpointed_iteration.txt"), "w").write("release")
if world > 1:
    dist.destroy_process_group()
"""
TO_HF = """\
import json, os, shutil, sys
args = sys.argv[1:]
out, origin = args[args.index("--output-dir") + 1], args[args.index("--origin-hf-dir") + 1]
with open(os.environ["RR_TOOL_LOG"], "a") as f:
    f.write(json.dumps({"tool": "to_hf", "argv": args, "cwd": os.getcwd(),
                        "pythonpath": os.environ.get("PYTHONPATH", "")}) + "\\n")
if os.environ.get("RR_TOOL_FAIL"):
    sys.exit("stand-in export: failing as asked")
if os.path.exists(out):
    raise ValueError(f"Output directory {out} already exists. Use --force to overwrite it.")
os.makedirs(out)
open(os.path.join(out, "model-00000-of-00001.safetensors"), "w").write("stand-in")
shutil.copy(os.path.join(origin, "config.json"), out)
"""


def write_slime_tools(root: Path) -> Path:
    tools = root / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    (tools / "convert_hf_to_torch_dist.py").write_text(TO_TORCH_DIST)
    (tools / "convert_torch_dist_to_hf.py").write_text(TO_HF)
    return root


def tool_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
