"""Checkpoint rules: read the real checkpoints' config.json and safetensors index when the paths exist here.

The checkpoint passed as --hf-checkpoint decides rollout precision (THUDM/slime@624b824a:
docs/en/advanced/low-precision.md; slime/backends/megatron_utils/actor.py:176-182): a BF16 one silently
runs BF16, a stale quantization_config builds FP8 layers over BF16 weights (pain-points §1.3). The files are
read by the one checkpoint reader (quant/source.py) and what a format requires is asked of formats/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from recipe_runner import formats
from recipe_runner.checks.finding import Finding, error, note, warning
from recipe_runner.checks.registry import rule
from recipe_runner.ckpt_paths import derive
from recipe_runner.formats.int4_pack import PROTECTED, ROUTED_EXPERT, int4_ignored, packable, scheme_weights
from recipe_runner.models import ModelShape
from recipe_runner.plan import job_env_vars
from recipe_runner.precision import mode
from recipe_runner.quant.source import Checkpoint, read_checkpoint
from recipe_runner.resolve import Resolved
from recipe_runner.spec import Recipe
from recipe_runner.torch_dist import model_args, tool_pipeline
from recipe_runner.torch_dist_job import MANIFEST, TRACKER

SLIME_FP8 = "THUDM/slime@624b824a:slime/backends/megatron_utils/megatron_to_hf/processors/quantizer_fp8.py:11-15"
SLIME_INT4 = ("THUDM/slime@624b824a:slime/backends/megatron_utils/megatron_to_hf/processors/"
              "quantizer_compressed_tensors.py:268-297")
HF_VALIDATE = "THUDM/slime@624b824a:slime/backends/megatron_utils/arguments.py:97-148"


def rollout_path(r: Recipe) -> tuple[str, str]:
    """(field, path) of the checkpoint SGLang loads."""
    ck = derive(r)
    if r.checkpoints.rollout or ck.rollout_converted:
        return "checkpoints.rollout", ck.rollout
    return ("checkpoints.hf" if ck.rollout == ck.hf else "checkpoints.bf16"), ck.rollout


@rule("checkpoint.not-found", "note",
      source="issue 4 part 1 (checks that need the files say so when they cannot run)")
@rule("checkpoint.convert-output", "note",
      source="the plan's convert, torch-dist and dequant-bf16 steps write them (docs/launch.md)")
def paths_here(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """A note per checkpoint path that is not on this machine, so its checks did not run; a step's output is
    noted as such (--strict refuses only missing inputs)."""
    ck = derive(r, s.config)
    field, rollout = rollout_path(r)
    made = {"checkpoints.bf16": "dequant-bf16" if ck.dequantize else "",
            "checkpoints.torch_dist": "torch-dist", field: "convert" if ck.rollout_converted else ""}
    seen: set[str] = set()
    for where, path in ((field, rollout), ("checkpoints.hf", ck.hf), ("checkpoints.bf16", ck.bf16),
                        ("checkpoints.torch_dist", ck.torch_dist), ("checkpoints.ref_load", ck.ref_load)):
        if path in seen:  # bf16: the rollout checkpoint is checkpoints.hf itself
            continue
        seen.add(path)
        step = made.get(where, "")
        if not Path(path).expanduser().is_dir():
            rule = "checkpoint.convert-output" if step else "checkpoint.not-found"
            yield note(rule, where, f"not checked: {path} not found here"
                       + (f" (the {step} step creates it)" if step else ""))


@rule("checkpoint.rollout-quantization", "error",
      source="pain-points §1.2-1.3 (THUDM/slime#913, #1679; sgl-project/sglang#3491)")
def rollout_quantization(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    field, path = rollout_path(r)
    ck = read_checkpoint(path)
    if ck is None or ck.config is None:
        return
    fmt = formats.get(mode(r.precision.mode).rollout_format)
    fix = fmt.conversion_hint(derive(r).bf16, r.precision.group_size)
    for message, hint in fmt.rollout_problems(ck.quantization, ck.names, r.precision.mode, fix):
        yield error("checkpoint.rollout-quantization", field, f"{ck.root}/config.json: {message}", hint=hint)


def int4_weights(ck: Checkpoint) -> dict:
    """The INT4 scheme's weight arguments (config_groups.group_0.weights) of a compressed-tensors checkpoint."""
    return scheme_weights(ck.quantization or {}, f"{ck.root}/config.json: quantization_config")


def int4_checkpoint(r: Recipe) -> tuple[str, Checkpoint] | None:
    """(field, checkpoint) when the mode rolls out INT4 and the checkpoint is here with compressed-tensors."""
    if formats.get(mode(r.precision.mode).rollout_format) is not formats.INT4:
        return None
    field, path = rollout_path(r)
    ck = read_checkpoint(path)
    if ck is None or ck.quant is None or ck.quant.format is not formats.INT4:
        return None
    return field, ck


@rule("checkpoint.int4-group-size", "error", source=SLIME_INT4)
@rule("checkpoint.int4-env-group-size", "warning",
      source="pain-points §3.2 (radixark/miles#2478; THUDM/slime docs/en/advanced/low-precision.md)")
def int4_group_size(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    found = int4_checkpoint(r)
    if found is None:
        return
    field, ck = found
    g = int4_weights(ck).get("group_size")
    if g != r.precision.group_size:
        yield error("checkpoint.int4-group-size", "precision.group_size",
                    f"{ck.root} is packed with group size {g}, the recipe says {r.precision.group_size}: "
                    "weight updates are packed with the checkpoint's group size", hint=f"set precision.group_size="
                    f"{g}, or convert again with --group-size {r.precision.group_size}")
    env = job_env_vars(r).get("OPEN_TRAINING_INT4_GROUP_SIZE")
    if env is not None and env != str(g):
        yield warning("checkpoint.int4-env-group-size", "launch.env.OPEN_TRAINING_INT4_GROUP_SIZE",
                      f"OPEN_TRAINING_INT4_GROUP_SIZE={env} but {ck.root} is packed with group size {g}: "
                      "training fake-quantizes with other groups than the rollout uses",
                      hint="make them equal (32 for Kimi-K2-Thinking)")


@rule("checkpoint.int4-ignore", "error", source="pain-points §1.8, §3.1 (THUDM/slime#1539)")
@rule("checkpoint.int4-nothing-quantized", "error",
      source="reference §6.2 (a dense model quantizes nothing with slime's default rules)")
@rule("checkpoint.int4-experts-ignored", "warning", source="pain-points §1.8 (volcengine/verl#7519)")
def int4_ignore_rules(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    found = int4_checkpoint(r)
    if found is None:
        return
    field, ck = found
    rules = tuple(ck.quantization.get("ignore") or ())
    weights = packable(ck.names)
    quantized = {n for n, packed in weights.items() if packed or not int4_ignored(n, rules)}
    for what, pattern in PROTECTED:
        hit = sorted(n for n in quantized if pattern.match(n))
        if hit:
            yield error("checkpoint.int4-ignore", field,
                        f"{ck.root}: the INT4 ignore rules leave {len(hit)} {what} weight(s) quantized, e.g. "
                        f"{hit[0]}", hint=f"add an ignore rule for the {what} to quantization_config.ignore "
                        "(only routed experts may be INT4)")
    if weights and not quantized:
        yield error("checkpoint.int4-nothing-quantized", field,
                    f"{ck.root}: the INT4 ignore rules exclude every weight: the rollout would run BF16",
                    hint="narrow quantization_config.ignore so routed experts are quantized")
    skipped = sorted(n for n in weights if ROUTED_EXPERT.match(n) and n not in quantized)
    if skipped and quantized:
        yield warning("checkpoint.int4-experts-ignored", field,
                      f"{ck.root}: {len(skipped)} routed-expert weight(s) are ignored, e.g. {skipped[0]}: they "
                      "stay BF16 in the rollout while QAT trains them quantized",
                      hint="check the ignore rules for a router pattern that also swallows expert gate/up_proj")


@rule("checkpoint.ref-load", "error", source="slime FAQ Q1 (THUDM/slime@624b824a:docs/en/get_started/qa.md); "
      "THUDM/slime@624b824a:slime/utils/arguments.py:1775-1783")
def ref_load_is_megatron(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    ck = derive(r, s.config)
    field = "checkpoints.ref_load" if r.checkpoints.ref_load else "checkpoints.torch_dist"
    root = Path(ck.ref_load).expanduser()
    if root.is_dir() and any(root.iterdir()) and not (root / TRACKER).is_file():
        hf = " (it looks like a Hugging Face checkpoint)" if (root / "config.json").is_file() else ""
        yield error("checkpoint.ref-load", field,
                    f"{root} has no {TRACKER}{hf}: Megatron would not load it and "
                    "training produces garbled text", hint=f"point {field} at a new directory: the plan's "
                    "torch-dist step converts the BF16 checkpoint into it with slime's "
                    "tools/convert_hf_to_torch_dist.py")


@rule("checkpoint.torch-dist-args", "error",
      source="THUDM/slime@624b824a:docs/en/get_started/quick_start.md:74-90 (the conversion's model args are "
      "the training run's)")
def torch_dist_model_args(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """An existing torch_dist made by the torch-dist step must have been made with the model args training uses."""
    ck = derive(r, s.config)
    manifest = Path(ck.torch_dist).expanduser() / MANIFEST
    try:
        recorded = json.loads(manifest.read_text()).get("model_args")
    except (OSError, ValueError, AttributeError):
        return
    args = model_args(Resolved(r, s, ()))
    if recorded != args:
        diff = sorted(set(map(str, recorded or [])) ^ set(args))[:4]
        yield error("checkpoint.torch-dist-args", "checkpoints.torch_dist",
                    f"{ck.torch_dist} was converted with other model args than training uses "
                    f"(differing: {' '.join(diff)})", hint="delete it so the torch-dist step converts again, or "
                    "set checkpoints.torch_dist to a new directory")


@rule("checkpoint.torch-dist-nodes", "error",
      source="THUDM/slime@624b824a:tools/convert_hf_to_torch_dist.py:45-70 (world_size <= num_layers; a pipeline "
      "size halved until the last stage has layers)")
def torch_dist_nodes(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """checkpoints.torch_dist_nodes must be nodes the cluster has, with a world slime's tool can split into stages."""
    n = r.checkpoints.torch_dist_nodes
    if not n or n == 1:
        return
    world = n * r.cluster.gpus_per_node
    if n > r.cluster.nodes:
        yield error("checkpoint.torch-dist-nodes", "checkpoints.torch_dist_nodes",
                    f"{n} nodes, but the cluster has {r.cluster.nodes} (cluster.nodes)",
                    hint=f"set checkpoints.torch_dist_nodes to at most {r.cluster.nodes}, or unset it")
    elif tool_pipeline(s.layers, world) is None:
        yield error("checkpoint.torch-dist-nodes", "checkpoints.torch_dist_nodes",
                    f"{n} nodes x {r.cluster.gpus_per_node} GPUs = {world} converter processes, and slime's tool "
                    f"finds no pipeline split of the model's {s.layers} layers over them (one process per layer at "
                    "most)", hint="use fewer nodes, or unset it (the plan picks the fewest that hold the weights)")


@rule("checkpoint.hf-format", "warning", source="recipe_runner/source_format.py (config.json first)")
def hf_format_agrees(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """checkpoints.hf_format is for a checkpoint not readable here: where config.json says otherwise, it wins."""
    ck = derive(r, s.config)
    said = r.checkpoints.hf_format
    if said and ck.source.config is not None and said != ck.source.format:
        yield warning("checkpoint.hf-format", "checkpoints.hf_format",
                      f"says {said}, but {ck.source.origin} says {ck.source.format}: the plan follows the file",
                      hint="drop checkpoints.hf_format (it is read from config.json where readable), or fix it")


@rule("checkpoint.dequant-source", "error",
      source="THUDM/slime@624b824a:tools/fp8_cast_bf16.py, tools/convert_k2_thinking_int4_to_bf16.py")
def dequant_source(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """The dequant-bf16 step's input: a release whose config declares a quantization must hold its tensors."""
    ck = derive(r, s.config)
    if not ck.dequantize:
        return
    release = read_checkpoint(ck.hf)
    suffix = formats.get(ck.source.format).scale_role  # the scales stored beside the quantized weights
    if release is not None and release.names and not any(n.endswith(suffix) for n in release.names):
        yield error("checkpoint.dequant-source", "checkpoints.hf",
                    f"{release.root} declares {ck.source.format} ({ck.source.origin}) but holds no *.{suffix} "
                    "tensors: there is nothing to dequantize", hint="if its weights are BF16, delete the stale "
                    "quantization_config from its config.json; else restore the release's files")


@rule("checkpoint.conversion-source", "error",
      source="pain-points §1.4, §3.4 (radixark/miles#1530; THUDM/slime quick_start.md)")
def conversion_source(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    """checkpoints.bf16 feeds the torch_dist and rollout conversions: it must be BF16."""
    ck = derive(r, s.config)
    if rollout_path(r)[1] == ck.bf16:
        return  # it is also the rollout checkpoint: rollout_quantization reports it
    source = read_checkpoint(ck.bf16)
    if source is None or source.config is None:
        return
    field = "checkpoints.hf" if ck.bf16 == ck.hf else "checkpoints.bf16"
    if source.quantization is not None:
        yield error("checkpoint.conversion-source", field,
                    f"{source.root} has a quantization_config ({source.quantization.get('quant_method')}): the "
                    "conversion sources must be BF16", hint="leave checkpoints.bf16 unset: the plan then "
                    f"dequantizes the release (recipe-runner convert bf16 {ck.hf} {ck.hf}-bf16)")


# The HF fields slime's start-up check compares with the model args (_hf_validate_args).
MODEL_FIELDS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size",
                "n_shared_experts", "tie_word_embeddings", "rms_norm_eps", "rope_theta", "vocab_size")


def model_field(cfg: dict, key: str) -> object:
    if key == "rope_theta" and "rope_theta" not in cfg:
        return (cfg.get("rope_parameters") or {}).get("rope_theta")  # THUDM/slime#1720
    if key == "tie_word_embeddings":
        return bool(cfg.get(key, False))
    return cfg.get(key)


@rule("checkpoint.model-config", "error", source=f"{HF_VALIDATE} (THUDM/slime#641, radixark/miles#742)")
def model_config_matches(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    seen: set[Path] = set()
    ck = derive(r, s.config)
    for path in dict.fromkeys((ck.hf, ck.bf16, rollout_path(r)[1])):
        ck = read_checkpoint(path)
        if ck is None or ck.config is None or ck.root in seen:
            continue
        seen.add(ck.root)
        diff = [(k, model_field(s.config, k), model_field(ck.config, k)) for k in MODEL_FIELDS
                if model_field(s.config, k) is not None and model_field(ck.config, k) is not None
                and model_field(s.config, k) != model_field(ck.config, k)]
        if diff:
            k, want, got = diff[0]
            rest = f" (and {len(diff) - 1} more field(s))" if len(diff) > 1 else ""
            yield error("checkpoint.model-config", "model.config",
                        f"{ck.root}/config.json has {k}={got!r}, the recipe's model {r.model.config!r} has "
                        f"{want!r}{rest}", hint=f"set model.config={ck.root} (a 2507 variant is another model)")

