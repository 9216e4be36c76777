"""Every checkpoint path of a run, derived from `checkpoints.hf` unless the recipe sets it, with where each came from.

slime's workflow (THUDM/slime@624b824a:docs/en/get_started/quick_start.md:70-93): a BF16 Hugging Face checkpoint
(FP8 and INT4 releases dequantized first: tools/fp8_cast_bf16.py, tools/convert_k2_thinking_int4_to_bf16.py) is
converted to Megatron's torch_dist (`<hf>_torch_dist`, what training loads with --ref-load), and to the rollout
format (`recipe-runner convert`). A release already in the mode's rollout format is served as it is (slime's
Kimi-K2-Thinking INT4 script rolls out /root/Kimi-K2-Thinking itself: scripts/low_precision/
run-kimi-k2-Thinking-int4.sh). Training saves beside the release, as slime's scripts do (`--load /root/Qwen3-4B_slime/
--save /root/Qwen3-4B_slime/`: scripts/run-qwen3-4B.sh:43-46), one directory per plan (recipe name and fingerprint):
the same plan run again resumes, a different recipe or override set does not resume from another's checkpoints.
`load` is `save`: while it holds no Megatron checkpoint slime starts from --ref-load instead, as a finetune without
optimizer or RNG state (slime/utils/arguments.py:1817-1834). Pure apart from reading checkpoints.hf/config.json
(source_format.py).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from recipe_runner import formats
from recipe_runner.formats.fp8_block import FP8_BLOCK
from recipe_runner.models import load_config
from recipe_runner.precision import converted_dir_name, mode
from recipe_runner.resolve import fingerprint
from recipe_runner.source_format import SourceFormat, detect
from recipe_runner.spec import Recipe

BF16_SUFFIX = "-bf16"
TORCH_DIST_SUFFIX = "_torch_dist"  # slime's naming: /root/GLM-Z1-9B-0414_torch_dist (quick_start.md:89)
SAVE_SUFFIX = "_slime"  # slime's naming: /root/Qwen3-4B_slime/ (scripts/run-qwen3-4B.sh:44-45)
FIELDS = ("hf", "hf_format", "bf16", "torch_dist", "ref_load", "rollout", "load", "save")


@dataclass(frozen=True)
class CheckpointPaths:
    source: SourceFormat
    hf: str
    bf16: str
    torch_dist: str
    ref_load: str
    rollout: str
    load: str
    save: str
    origins: dict[str, str]  # field -> where its value came from

    @property
    def dequantize(self) -> bool:
        """The dequant-bf16 step runs: the release is not BF16 and checkpoints.bf16 is not given (a given one is
        used as it is, like a given checkpoints.rollout)."""
        return self.source.format != "bf16" and self.origins["bf16"].startswith("derived")

    @property
    def rollout_converted(self) -> bool:
        """The rollout conversion runs: the rollout checkpoint is derived and is neither hf nor bf16."""
        return self.origins["rollout"].startswith("derived") and self.rollout not in (self.hf, self.bf16)

    def value(self, field: str) -> str | None:
        return self.source.format if field == "hf_format" else getattr(self, field)


def derive(r: Recipe, model_config: dict | None = None) -> CheckpointPaths:
    """The run's checkpoint paths; `model_config` (the resolved model config.json) saves reading it again."""
    ck = r.checkpoints
    cfg = load_config(r.model.config, r.model.config_overrides) if model_config is None else model_config
    source = detect(r, cfg)
    origins = {"hf": "set in the recipe", "hf_format": source.origin}
    hf = ck.hf.rstrip("/") or ck.hf

    def pick(field: str, derived: str, rule: str) -> str:
        explicit = getattr(ck, field)
        origins[field] = "set in the recipe" if explicit else f"derived: {rule}"
        return explicit or derived

    bf16 = pick("bf16", hf if source.format == "bf16" else sibling(hf, BF16_SUFFIX),
                "checkpoints.hf, which is BF16" if source.format == "bf16"
                else f"checkpoints.hf + '{BF16_SUFFIX}' (the dequant-bf16 step writes it from the {source.format} "
                "release)")
    torch_dist = pick("torch_dist", ck.ref_load or sibling(hf, TORCH_DIST_SUFFIX),
                      "checkpoints.ref_load" if ck.ref_load else
                      f"checkpoints.hf + '{TORCH_DIST_SUFFIX}' (the torch-dist step writes it from checkpoints.bf16)")
    ref_load = pick("ref_load", torch_dist, "checkpoints.torch_dist")
    rollout_path, rule = _rollout(r, source, hf, bf16)
    rollout = pick("rollout", rollout_path, rule)
    save = pick("save", save_dir(r, hf),
                f"checkpoints.hf + '{SAVE_SUFFIX}/<recipe name>-<fingerprint[:8]>' (one directory per plan: "
                "the same plan resumes from it, another recipe or override set does not)")
    if r.checkpoints.save_interval is None:  # plan.train_args passes no --save then
        origins["save"] += "; unused: checkpoints.save_interval is null, so training saves no checkpoint"
    load = pick("load", save, "checkpoints.save (slime starts from --ref-load while it holds no checkpoint)")
    return CheckpointPaths(source, ck.hf, bf16, torch_dist, ref_load, rollout, load, save, origins)


def _rollout(r: Recipe, source: SourceFormat, hf: str, bf16: str) -> tuple[str, str]:
    m = mode(r.precision.mode)
    if m.rollout_format == "bf16":
        return bf16, "checkpoints.bf16 (mode bf16 rolls out the BF16 checkpoint)"
    if reusable(r, source):
        return hf, f"checkpoints.hf, already {m.rollout_format} as mode {m.name} rolls out (no conversion)"
    head, base = posixpath.split(bf16.rstrip("/") or bf16)
    return (posixpath.join(head, converted_dir_name(m, base, r.precision.group_size)),
            f"checkpoints.bf16 + '{m.converted_suffix.format(group_size=r.precision.group_size)}' "
            f"(the convert step writes it)")


def reusable(r: Recipe, source: SourceFormat) -> bool:
    """The release itself can be the rollout checkpoint: same format, and the same block / group where known."""
    m = mode(r.precision.mode)
    if source.format != m.rollout_format:
        return False
    if formats.get(source.format) is formats.FP8:
        return source.block in (None, FP8_BLOCK)
    return source.group_size in (None, r.precision.group_size)


def save_dir(r: Recipe, hf: str) -> str:
    """`/data/Model` -> `/data/Model_slime/<recipe>-<fingerprint[:8]>`. The fingerprint is the Recipe's, which holds
    no derived path, so deriving this one changes nothing it is made from."""
    return posixpath.join(sibling(hf, SAVE_SUFFIX), f"{r.name}-{fingerprint(r)[:8]}")


def sibling(path: str, suffix: str) -> str:
    """`/data/Model` -> `/data/Model<suffix>`: beside the source, as slime's docs name them."""
    return path.rstrip("/") + suffix
