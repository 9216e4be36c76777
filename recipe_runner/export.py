"""`export`: a run's saved torch_dist iteration -> a Hugging Face checkpoint, through slime's own tool.

The run's settings come from its bundle (bundle.py: RUN_DIR/recipe.yaml is the resolved recipe): where training
saved (checkpoints.save, else the directory ckpt_paths.py derives for the run's plan, which the bundle's recipe
re-derives: the same Recipe, the same fingerprint), the BF16 checkpoint whose config, tokenizer and other files the
export copies (--origin-hf-dir), the model's vocab size (Megatron pads the embedding; --vocab-size removes the padding,
THUDM/slime@624b824a:docs/en/get_started/quick_start.md:95-106), and slime's checkout and PYTHONPATH.
Megatron names an iteration's directory `iter_{:07d}` and keeps the latest in latest_checkpointed_iteration.txt
(NVIDIA/Megatron-LM@1dcf0daf:megatron/training/checkpointing.py:162-171, 277-281). The tool refuses an existing
output (THUDM/slime@624b824a:tools/convert_torch_dist_to_hf.py:209-210): it writes into a temp directory beside DST,
renamed into place when it succeeded, so DST is whole or absent.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from recipe_runner.bundle import RECIPE_FILE, RECIPE_NAME
from recipe_runner.ckpt_paths import derive
from recipe_runner.errors import RunError, user_error
from recipe_runner.resolve import resolve
from recipe_runner.torch_dist_job import TRACKER

TOOL = "tools/convert_torch_dist_to_hf.py"


@dataclass(frozen=True)
class Export:
    iteration_dir: Path
    dst: Path
    slime: str
    pythonpath: tuple[str, ...]
    origin_hf: str
    vocab_size: int

    def argv(self, output: Path) -> list[str]:
        return ["python3", TOOL, "--input-dir", str(self.iteration_dir), "--output-dir", str(output),
                "--origin-hf-dir", self.origin_hf, "--vocab-size", str(self.vocab_size)]


def plan_export(run_dir: str | Path, iteration: int | None, dst: str | Path) -> Export:
    """Read the run's bundle and pick the iteration; any missing piece is exit 2 naming it."""
    run_dir = Path(run_dir)
    if not (run_dir / RECIPE_FILE).is_file():
        raise user_error(str(run_dir), f"has no {RECIPE_FILE}", rule="export reads the run's settings from its "
                         "bundle", hint="pass the directory `plan --out DIR` or `launch --out DIR` wrote")
    resolved = resolve(RECIPE_NAME, (), str(run_dir))
    r = resolved.recipe
    paths = derive(r, resolved.shape.config)
    save = Path(paths.save).expanduser()
    step = iteration if iteration is not None else latest_iteration(save)
    it_dir = save / f"iter_{step:07d}"
    if not it_dir.is_dir():
        have = sorted(p.name for p in save.glob("iter_*")) if save.is_dir() else []
        raise user_error("--iteration", f"{it_dir} does not exist",
                         rule="export reads an iteration training saved (checkpoints.save/iter_NNNNNNN)",
                         hint=f"saved here: {', '.join(have) or 'none'}")
    dst = Path(dst).expanduser()
    if dst.exists():
        raise user_error(str(dst), "exists", rule="an export is written whole into a new directory",
                         hint="pick a new DST or remove it")
    if not (Path(paths.bf16).expanduser() / "config.json").is_file():
        raise user_error("checkpoints.bf16", f"{paths.bf16}/config.json not found",
                         rule="the export copies config.json, tokenizer and other files from the BF16 checkpoint",
                         hint="run export where the run's checkpoints are mounted")
    return Export(it_dir, dst, r.launch.working_dir, tuple(r.launch.pythonpath), paths.bf16, resolved.shape.vocab)


def latest_iteration(save: Path) -> int:
    """The iteration Megatron's tracker names; `release` (a converted, not trained, checkpoint) is refused."""
    tracker = save / TRACKER
    try:
        text = tracker.read_text().strip()
    except OSError:
        raise user_error(str(tracker), "not found: training has saved no checkpoint here yet",
                         rule="training saves every checkpoints.save_interval rollouts and after the last; "
                              "not at all when save_interval is null",
                         hint="pass --iteration N of a saved iteration") from None
    if not text.isdigit():
        raise user_error(str(tracker), f"says {text!r}, not an iteration number",
                         hint="pass --iteration N of a saved iteration")
    return int(text)


def run_export(e: Export) -> Path:
    """Run slime's tool into a temp directory beside DST, then rename it onto DST."""
    e.dst.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{e.dst.name}.", dir=e.dst.parent))
    out = work / "hf"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*e.pythonpath, os.environ.get("PYTHONPATH", "")])
           .rstrip(os.pathsep)}
    try:
        print(f"export: (cd {shlex.quote(e.slime)} && {shlex.join(e.argv(e.dst))})", flush=True)
        try:
            code = subprocess.run(e.argv(out), cwd=e.slime, env=env, check=False).returncode
        except OSError as err:
            raise RunError(f"cannot run slime's {TOOL} in {e.slime}: {err}") from None
        if code != 0 or not out.is_dir():
            raise RunError(f"slime's {TOOL} exited with {code}; {e.dst} was not written")
        try:
            os.replace(out, e.dst)
        except OSError as err:
            raise RunError(f"cannot move the export into {e.dst} ({err.strerror}); it was not written") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return e.dst
