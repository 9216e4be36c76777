"""Stand-ins for slime's checkpoint tools (the real ones need GPUs and Megatron): a slime directory whose
tools/convert_hf_to_torch_dist.py and tools/convert_torch_dist_to_hf.py log their argv, cwd, PYTHONPATH and what
they read to $RR_TOOL_LOG, and write what the real ones leave behind (THUDM/slime@624b824a:
tools/convert_hf_to_torch_dist.py:131-140: `release` in latest_checkpointed_iteration.txt and release/;
tools/convert_torch_dist_to_hf.py: safetensors, index and the origin's config.json). RR_TOOL_FAIL=1 fails them."""

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
os.makedirs(os.path.join(save, "release"), exist_ok=True)
open(os.path.join(save, "release", "common.pt"), "w").write("stand-in")
open(os.path.join(save, "latest_checkpointed_iteration.txt"), "w").write("release")
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
