"""Run slime's HF -> torch_dist converter once: skipped when done, Kimi's model_type rewritten in a copy, atomic.

Stdlib-only at import time on purpose, like doctor.py: `launch` ships this source as a Ray job (`python3 -c SOURCE
SPEC`) so the conversion runs on the cluster, where recipe-runner may not be installed; `recipe-runner torch-dist`
(the shell and sbatch scripts' step) runs the same `run` in-process. SPEC is the JSON `torch_dist.spec` builds:
{"hf", "save", "slime", "pythonpath", "command", "model_args", "model_type"}.

Facts (THUDM/slime@624b824a): the tool is `tools/convert_hf_to_torch_dist.py ${MODEL_ARGS[@]} --hf-checkpoint HF
--save DST` with Megatron-LM on PYTHONPATH (docs/en/get_started/quick_start.md:85-93), under torchrun for large
models; it saves iteration 1, then writes `release` into Megatron's tracker `latest_checkpointed_iteration.txt` and
moves the iteration directory to `release/` (tools/convert_hf_to_torch_dist.py:131-140), so an existing DST would be
merged into, not replaced: we convert into a temp directory beside DST and rename it into place. Kimi-K2 needs
`"model_type": "deepseek_v3"` in config.json (quick_start.md:93): the tool reads a directory holding a rewritten copy
of config.json and links to every other file of the checkpoint, so the checkpoint itself is never edited.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

TOOL = "tools/convert_hf_to_torch_dist.py"
TRACKER = "latest_checkpointed_iteration.txt"  # Megatron's: the iteration (or "release") a load reads
MANIFEST = "recipe-runner-torch-dist.json"  # beside the tracker: what the checkpoint was made from
MODEL_TYPE_REWRITE = {"kimi_k2": "deepseek_v3"}  # slime's converter knows Kimi-K2 as DeepSeek-V3
EXIT_BAD_INPUT = 2
BAD_INPUT = "error: torch-dist input: "  # the line a bad input prints (launch turns it into exit 2)


class InputError(Exception):
    """The step's input is not what it needs (exit 2)."""


def done(spec: dict) -> str | None:
    """Why DST needs no conversion (a line to print), None when it must be made. A DST holding another
    conversion is an InputError: it is never overwritten."""
    save = Path(spec["save"])
    if not (save / TRACKER).is_file():
        if save.exists() and any(save.iterdir()):
            raise InputError(f"{save} exists and is not a torch_dist checkpoint (no {TRACKER}): move it away or "
                             "set checkpoints.torch_dist to another directory")
        return None
    try:
        recorded = json.loads((save / MANIFEST).read_text())
    except FileNotFoundError:
        return (f"{save} holds a torch_dist checkpoint made outside recipe-runner ({TRACKER}, no {MANIFEST}): its "
                "model args cannot be compared; delete it to convert again")
    except (OSError, ValueError) as e:
        raise InputError(f"{save / MANIFEST} cannot be read ({e}): delete {save} to convert again") from None
    for key in ("hf", "model_args"):
        if recorded.get(key) != spec[key]:
            raise InputError(f"{save} was converted with other {key.replace('_', ' ')} ({MANIFEST}: "
                             f"{json.dumps(recorded.get(key))[:300]}; this run: {json.dumps(spec[key])[:300]}): "
                             "delete it, or set checkpoints.torch_dist to another directory")
    return f"{save} already holds this conversion of {spec['hf']} ({MANIFEST} matches)"


def check_source(spec: dict) -> dict:
    """The BF16 source's config.json, or InputError naming what is wrong with it."""
    config = Path(spec["hf"]) / "config.json"
    try:
        data = json.loads(config.read_text())
    except FileNotFoundError:
        raise InputError(f"{config} not found: the torch-dist step needs the BF16 Hugging Face checkpoint "
                         "(checkpoints.bf16)") from None
    except (OSError, ValueError) as e:
        raise InputError(f"{config} cannot be read as JSON ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{config} is not a JSON object")
    if data.get("quantization_config"):
        raise InputError(f"{config} has a quantization_config: slime's converter needs BF16 weights; dequantize "
                         f"first (recipe-runner convert bf16 SRC {spec['hf']})")
    return data


def source_view(hf: Path, config: dict, where: Path) -> Path:
    """`hf` as slime's converter must read it: itself, or (Kimi-K2) a directory at `where` with config.json's
    model_type rewritten and a link to every other file."""
    new_type = MODEL_TYPE_REWRITE.get(config.get("model_type"))
    if new_type is None:
        return hf
    where.mkdir()
    for entry in hf.iterdir():
        if entry.name != "config.json":
            (where / entry.name).symlink_to(entry.resolve())
    (where / "config.json").write_text(json.dumps({**config, "model_type": new_type}, indent=2) + "\n")
    print(f"torch-dist: model_type {config['model_type']} -> {new_type} in a copy of config.json ({where})")
    return where


def command(spec: dict, hf: str, save: str) -> list[str]:
    """The converter's command line with these source and destination directories."""
    return [*spec["command"], TOOL, *spec["model_args"], "--hf-checkpoint", hf, "--save", save]


def run(spec: dict) -> int:
    """Convert unless done: 0 when DST holds the conversion, 2 for bad input, 1 when the conversion failed."""
    try:
        why = done(spec)
        if why:
            print(f"torch-dist: {why}; skipped")
            return 0
        config = check_source(spec)
    except InputError as e:
        print(f"{BAD_INPUT}{e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    save = Path(spec["save"])
    save.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{save.name}.", dir=save.parent))
    try:
        hf = source_view(Path(spec["hf"]), config, work / "hf")
        out = work / "torch_dist"
        argv = command(spec, str(hf), str(out))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([*spec["pythonpath"], os.environ.get("PYTHONPATH", "")])
               .rstrip(os.pathsep)}
        print(f"torch-dist: {spec['hf']} -> {save}: (cd {spec['slime']} && {' '.join(argv)})", flush=True)
        code = subprocess.run(argv, cwd=spec["slime"], env=env, check=False).returncode
        if code != 0:
            print(f"error: torch-dist: slime's converter exited with {code}; {save} was not written",
                  file=sys.stderr)
            return 1
        if not (out / TRACKER).is_file():
            print(f"error: torch-dist: slime's converter wrote no {TRACKER}; {save} was not written",
                  file=sys.stderr)
            return 1
        record = {"tool": "recipe-runner", "hf": spec["hf"], "model_args": spec["model_args"],
                  "model_type": spec.get("model_type"), "command": command(spec, spec["hf"], spec["save"]),
                  "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (out / MANIFEST).write_text(json.dumps(record, indent=2) + "\n")
        try:
            os.replace(out, save)  # an empty DST is replaced; one another run filled meanwhile is not merged into
        except OSError as e:
            print(f"error: torch-dist: cannot move the conversion into {save} ({e.strerror}); nothing was merged",
                  file=sys.stderr)
            return 1
        print(f"torch-dist: wrote {save}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    """`python3 -c SOURCE SPEC_JSON` (the Ray job launch submits)."""
    return run(json.loads(argv[1]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
