"""`recommend`: which precision modes and layouts fit a model on a cluster, ranked by a throughput index.

Feasibility is the pre-flight registry itself (`checks.RULES`), run on each candidate recipe; nothing here
restates a rule. Checkpoint rules look at paths, not at the layout, so the search runs the other rules and
every listed row then passes the whole registry once more. On top of the rules, a row must keep its
training estimate under `(1 - headroom) x HBM` (DEFAULT_HEADROOM says why).

The search, bounded so it stays fast (benchmarks/recommend.py):
  precision modes x placements (colocated; or training and rollout on separate halves of the cluster)
  x rollout engines (GPUs per engine; SGLang EP = engine size or none) -- the best one per mode and placement
  x TP (divisors of the GPUs per node) x EP (divisors of the experts and the world) x CP (1; 2 as well for
    responses of 16k tokens or more) -- for each, only the smallest PP, then no optimizer offload before
    offload, that fits: more stages and host offload only add time, so they cannot rank higher.
The ranking is an index from first principles (docs/recommend.md): rollout decode is bound by memory
bandwidth (weight and KV bytes read per token, concurrency limited by the KV cache), training by dense
tensor throughput per precision, with a penalty for TP, EP, PP, CP and offload. It is reported relative to
the best BF16 row on the same cluster, never in seconds: it is not calibrated.
"""

from __future__ import annotations

import difflib
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel

from recipe_runner.checks import RULES, checkpoint, errors, run_checks, warnings
from recipe_runner.checks.finding import Finding
from recipe_runner.compose import flatten, group_options, list_recipes
from recipe_runner.errors import Problem, UserError, user_error
from recipe_runner.estimate import GB, ROLLOUT_FORMATS, Estimate, estimate, params
from recipe_runner.hardware import GPUS, MIN_COMPUTE_CAPABILITY
from recipe_runner.layout import layout
from recipe_runner.models import ModelShape
from recipe_runner.precision import MODES, mode
from recipe_runner.resolve import Resolved
from recipe_runner.spec import Recipe

# 10% of HBM is left out of the training estimate: the CUDA context, NCCL and cuBLAS workspaces and the
# caching allocator's fragmentation are not in it and take a few GB each on an 80 GB GPU (slime FAQ Q3 on
# OOMs: THUDM/slime@624b824a:docs/en/get_started/qa.md).
DEFAULT_HEADROOM = 0.10
SEARCH_RULES = tuple(rule for rule in RULES if rule not in checkpoint.RULES)

# Index assumptions (docs/recommend.md): one model FLOP utilisation for every row (it cancels in the ratio),
# the mean response is half of max_response_len, 8 micro-batches per step for the pipeline bubble, and
# the penalties below. Relative numbers only.
MFU = 0.4
MICRO_BATCHES = 8
# Blockwise FP8 training is not the datasheet's 2x: measured end to end it ranged from slower than BF16
# (volcengine/verl#7232, Qwen3-30B-A3B on 8xH200) to 1.41x for the training phase (Jet-RL, arXiv:2601.14243).
# The index takes 1.2x, capped by the GPU's FP8/BF16 datasheet ratio.
FP8_TRAIN_GAIN = 1.2
# A decode step of a TP engine waits for two all-reduces per layer; NCCL's small-message latency is about
# 10 us over NVLink and more across nodes (nccl-tests all_reduce_perf at 8 B-1 MB).
ALLREDUCE_SECONDS = {"node": 10e-6, "nodes": 30e-6}
PENALTY = {"tp": 0.05, "ep": 0.05, "cp": 0.05, "offload": 0.15}  # per doubling (tp, ep, cp); flat (offload)

# Why each mode exists, in slime's guidance (THUDM/slime@624b824a:docs/en/advanced/low-precision.md).
WHY_MODE = {
    "bf16": "baseline: BF16 training and rollout",
    "fp8-rollout": "FP8 rollout + BF16 training: a simple efficiency boost (rollout weights ~half of BF16)",
    "fp8-full": "FP8 training + FP8 rollout: maximum throughput and stability (same format in both)",
    "int4-qat": "INT4 QAT: for the largest models when memory is constrained (INT4 less stable than FP8)",
    "int4-rollout": "INT4 rollout without QAT: rollout memory of INT4, but training never sees the rounding",
}


TRAINING_PATHS = ("parallel.", "optimizer.", "training.")  # fields the training-layout search sets
FEATURE_NAMES = {"fp8-block-training": "FP8 blockwise training", "int4-qat-kernel": "INT4 fake-quant training"}


@dataclass(frozen=True)
class Request:
    gpu: str
    nodes: int
    gpus_per_node: int = 8
    modes: tuple[str, ...] = tuple(MODES)
    headroom: float = DEFAULT_HEADROOM
    top: int = 5


@dataclass(frozen=True)
class Row:
    recipe: Recipe
    overrides: tuple[str, ...]  # applied to the base recipe they give exactly `recipe`
    index: float  # throughput relative to the baseline row (1.0 = as fast)
    rollout_share: float  # fraction of the modelled step spent in rollout
    estimate: Estimate
    why: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def mode(self) -> str:
        return self.recipe.precision.mode


@dataclass(frozen=True)
class Exclusion:
    mode: str
    reason: str  # the rule id or "memory.headroom"
    message: str


@dataclass(frozen=True)
class Recommendation:
    base: str  # the recipe the rows start from
    model: str
    request: Request
    rows: tuple[Row, ...]
    excluded: tuple[Exclusion, ...]
    baseline: str  # what index 1.0 is
    evaluated: int  # candidates the registry was run on


@dataclass
class _ModeLog:
    """Why candidates of one mode failed, to name the binding constraint when none fits."""

    rules: Counter = field(default_factory=Counter)
    messages: dict[str, str] = field(default_factory=dict)  # rule -> the message of its last (largest) candidate
    engine_rules: set = field(default_factory=set)  # rules that ruled out engine shapes
    rollout_fits: bool = False  # some engine shape passed the rollout rules
    states_fit: bool = False  # some training layout kept weights, grads and optimizer under the usable HBM
    least_memory: float = math.inf  # smallest training-states estimate seen (bytes per GPU)

    def failed(self, found: list[Finding]) -> None:
        for f in found:
            self.rules[f.rule] += 1
            self.messages[f.rule] = f"{f.path}: {f.message}"

    def binding(self, usable: float) -> tuple[str, str]:
        """(rule, message) of what stops this mode: rollout memory or shape first, then training memory,
        then the rule most candidates broke."""
        rollout = [r for r in self.rules if r in self.engine_rules]
        if not self.rollout_fits and rollout:
            rule = max(rollout, key=lambda r: self.rules[r])
            return rule, self.messages[rule]
        if not self.states_fit:
            return "memory.train-states", (
                f"the smallest training estimate found is {self.least_memory / GB:.0f} GB per GPU (weights, grads "
                f"and the optimizer when not offloaded), over the {usable / GB:.0f} GB usable")
        if self.rules:
            rule, _ = self.rules.most_common(1)[0]
            return rule, self.messages[rule]
        return "none", "no candidate was generated"


def recommend(base: Resolved, req: Request) -> Recommendation:
    """Rank every feasible (mode, layout, engine) for `base`'s model on the requested cluster."""
    gpu = _gpu(req.gpu)
    req = Request(gpu.name, req.nodes, req.gpus_per_node, req.modes, req.headroom, req.top)
    if not 0 <= req.headroom < 1:
        raise user_error("--headroom", f"{req.headroom} is outside [0, 1)", hint="use e.g. 0.1 for 10% of HBM")
    shape, usable = base.shape, (1 - req.headroom) * gpu.memory_gb * GB
    rows: list[Row] = []
    logs: dict[str, _ModeLog] = {}
    evaluated = 0
    for mode_name in req.modes:
        log = logs.setdefault(mode_name, _ModeLog())
        for placement in _placements(req):
            seed = _apply(base.recipe, placement | {"precision.mode": mode_name})
            engines, n = _engines(seed, shape, log)
            evaluated += n
            for engine in engines:
                for layout_fields in _training_layouts(seed, shape):
                    row, n = _first_fit(_apply(seed, engine | layout_fields), shape, usable, log)
                    evaluated += n
                    if row is not None:
                        rows.append(row)
    rows = _unique(rows)
    if not rows:
        raise _infeasible(req, logs, usable)
    baseline, rows = _ranked(rows, base.recipe, shape)
    final = tuple(_explained(r, base.recipe, shape) for r in _shown(rows, req.top))
    excluded = tuple(_exclusion(m, logs[m], usable) for m in req.modes if m not in {r.mode for r in rows})
    return Recommendation(base.recipe.name, base.recipe.model.name, req, final, excluded, baseline, evaluated)


def _gpu(name: str):
    match = {k.lower(): v for k, v in GPUS.items()}.get(name.lower())
    if match is None:
        raise user_error("--gpus", f"unknown GPU {name!r}", rule="GPUs come from the hardware table",
                         hint="use one of " + ", ".join(GPUS))
    return match


def _placements(req: Request) -> list[dict[str, object]]:
    """Training and rollout on separate halves where the cluster splits evenly; and colocated on every GPU
    (last, so its larger engines give the messages that name a binding constraint)."""
    common = {"cluster.gpu": req.gpu, "cluster.ray.num_gpus": None}
    out = []
    if req.nodes >= 2 and req.nodes % 2 == 0:
        out.append(common | {"cluster.nodes": req.nodes // 2, "cluster.gpus_per_node": req.gpus_per_node,
                             "cluster.colocate": False, "cluster.rollout_gpus": req.nodes // 2 * req.gpus_per_node})
    elif req.nodes == 1 and req.gpus_per_node >= 2 and req.gpus_per_node % 2 == 0:
        out.append(common | {"cluster.nodes": 1, "cluster.gpus_per_node": req.gpus_per_node // 2,
                             "cluster.colocate": False, "cluster.rollout_gpus": req.gpus_per_node // 2})
    return out + [common | {"cluster.nodes": req.nodes, "cluster.gpus_per_node": req.gpus_per_node,
                            "cluster.colocate": True, "cluster.rollout_gpus": None}]


def _engines(seed: Recipe, shape: ModelShape, log: _ModeLog) -> tuple[list[dict[str, object]], int]:
    """The engine shape with the best rollout throughput that passes every rule not about the training layout
    (the training layout is still the base recipe's here; `_first_fit` chooses it next)."""
    rollout_gpus = layout(seed).rollout_gpus
    gpn = seed.cluster.gpus_per_node
    sizes = [d for d in _divisors(gpn)] + [gpn * k for k in range(2, rollout_gpus // gpn + 1)
                                            if rollout_gpus % (gpn * k) == 0]
    scored, n = [], 0
    for size in sizes:
        for ep in ([None, size] if shape.experts and size > 1 else [None]):
            fields = {"rollout.gpus_per_engine": size, "rollout.sglang.expert_parallel_size": ep}
            candidate = _apply(seed, fields)
            n += 1
            bad = [f for f in errors(fit_findings(candidate, shape, math.inf)) if not f.path.startswith(TRAINING_PATHS)]
            if bad:
                log.failed(bad)
                log.engine_rules.update(f.rule for f in bad)
                continue
            log.rollout_fits = True
            scored.append((_rollout_seconds(candidate, shape), size, fields))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [fields for _, _, fields in scored[:1]], n


def _training_layouts(seed: Recipe, shape: ModelShape):
    """(TP, EP, CP) candidates; PP and offload are chosen by `_first_fit`."""
    world = seed.cluster.nodes * seed.cluster.gpus_per_node
    cps = (1, 2) if seed.rollout.max_response_len >= 16384 else (1,)
    eps = [d for d in _divisors(world) if shape.experts and shape.experts % d == 0] if shape.experts else [1]
    for tp in _divisors(seed.cluster.gpus_per_node):
        for ep in eps:
            for cp in cps:
                yield {"parallel.tensor": tp, "parallel.expert": ep, "parallel.context": cp,
                       "parallel.expert_tensor": 1}


def _first_fit(candidate: Recipe, shape: ModelShape, usable: float, log: _ModeLog) -> tuple[Row | None, int]:
    """The smallest PP, then no offload before offload, that passes the search rules and the headroom."""
    world, par = candidate.cluster.nodes * candidate.cluster.gpus_per_node, candidate.parallel
    n = 0
    # only stages that tile the cluster for both the dense and the expert groups (the layout rules check it too)
    for pp in (p for p in _powers_of_two(world) if p <= shape.layers
               and world % (par.tensor * par.context * p) == 0 and world % (par.expert * par.expert_tensor * p) == 0):
        for offload in (False, True):
            r = _apply(candidate, {"parallel.pipeline": pp, "optimizer.cpu_offload": offload,
                                   "optimizer.precision_aware": None})
            e = estimate(r, shape)
            log.least_memory = min(log.least_memory, e.train.states)
            if e.train.states > usable:  # cheaper than the rules; memory.train-states would say the same
                continue
            log.states_fit = True
            n += 1
            found = fit_findings(r, shape, usable, e)
            if errors(found):
                log.failed(errors(found))
                continue
            return Row(r, (), 0.0, 0.0, e, (), tuple(f.line() for f in warnings(found))), n
    return None, n


def fit_findings(r: Recipe, shape: ModelShape, usable: float, e: Estimate | None = None) -> list[Finding]:
    """What the search holds against a candidate: the layout-dependent rules, and the headroom."""
    found = [f for rule in SEARCH_RULES for f in rule(r, shape)]
    e = e or estimate(r, shape)
    if e.train.total > usable:
        found.append(Finding("memory.headroom", "error", "training.max_tokens_per_gpu",
                             f"training needs about {e.train.total / GB:.0f} GB per GPU, over the {usable / GB:.0f} GB "
                             "usable (HBM less the headroom)", hint="lower --headroom or training.max_tokens_per_gpu"))
    return found


def _unique(rows: list[Row]) -> list[Row]:
    seen, out = set(), []
    for row in rows:
        key = row.recipe.model_dump_json()
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def _ranked(rows: list[Row], base: Recipe, shape: ModelShape) -> tuple[str, list[Row]]:
    costs = {id(r): (_rollout_seconds(r.recipe, shape), _train_seconds(r.recipe, shape)) for r in rows}
    bf16 = [sum(costs[id(r)]) for r in rows if r.mode == "bf16"]
    reference = min(bf16) if bf16 else min(sum(c) for c in costs.values())
    baseline = "the best BF16 row" if bf16 else "the best row (BF16 does not fit this cluster)"
    out = []
    for r in rows:
        roll, train = costs[id(r)]
        out.append(Row(r.recipe, _overrides(base, r.recipe), reference / (roll + train), roll / (roll + train),
                       r.estimate, r.why, r.warnings))
    out.sort(key=lambda r: (-r.index, r.recipe.parallel.pipeline, r.recipe.optimizer.cpu_offload))
    return baseline, out


def _shown(ranked: list[Row], top: int) -> list[Row]:
    """The best row of every feasible mode first (so modes can be compared), then the next best rows."""
    best: dict[str, Row] = {}
    for r in ranked:
        best.setdefault(r.mode, r)
    firsts = [r for r in ranked if best[r.mode] is r]
    rest = [r for r in ranked if best[r.mode] is not r]
    return (firsts + rest)[:top] if len(firsts) < top else firsts[:top]


def _rollout_seconds(r: Recipe, shape: ModelShape) -> float:
    """Modelled time to generate one rollout batch: decode reads every active weight byte and the KV cache
    once per step, at the GPU's memory bandwidth, plus the TP all-reduces; concurrency is what the KV cache
    holds (at least one)."""
    ro, gpu = estimate(r, shape).rollout, GPUS[r.cluster.gpu]
    engines = max(1, layout(r).rollout_gpus // r.rollout.gpus_per_engine)
    concurrent = max(1, min(ro.needed, ro.sequences))
    quantized, per_param = ROLLOUT_FORMATS[mode(r.precision.mode).rollout_format]
    p = params(shape)
    expert_bytes = p.experts * (per_param(r.precision.group_size) if "experts" in quantized else 2)
    ep = r.rollout.sglang.expert_parallel_size or r.rollout.gpus_per_engine
    expert_share = expert_bytes / ep
    touched = min(1.0, concurrent * shape.topk / shape.experts) if shape.experts else 1.0
    weights_read = ro.weights - expert_share + expert_share * touched
    mean_len = r.rollout.max_response_len / 2
    kv_read = concurrent * mean_len * ro.kv_bytes_per_token
    step = (weights_read + kv_read) / (gpu.bandwidth_tbs * 1e12)
    if r.rollout.gpus_per_engine > 1:
        span = "nodes" if r.rollout.gpus_per_engine > r.cluster.gpus_per_node else "node"
        step += 2 * shape.layers * ALLREDUCE_SECONDS[span]
    tokens = ro.needed * engines * mean_len
    return tokens / (engines * concurrent / step)


def _train_seconds(r: Recipe, shape: ModelShape) -> float:
    """Modelled time of the training step: 6 FLOPs per active parameter per token (8 with recompute) at
    the GPU's dense throughput for the training precision, times the parallelism penalties."""
    gpu, par = GPUS[r.cluster.gpu], r.parallel
    p = params(shape)
    active = p.dense + (p.experts * shape.topk / shape.experts if shape.experts else 0)
    ro = r.rollout
    tokens = (ro.over_sampling_batch_size or ro.batch_size) * ro.n_samples_per_prompt * ro.max_response_len / 2
    flops = (8 if r.training.recompute else 6) * active * tokens
    fp8 = mode(r.precision.mode).train_feature == "fp8-block-training"
    tflops = gpu.bf16_tflops * (min(FP8_TRAIN_GAIN, gpu.fp8_tflops / gpu.bf16_tflops) if fp8 else 1)
    world = r.cluster.nodes * r.cluster.gpus_per_node
    penalty = ((1 + PENALTY["tp"] * math.log2(par.tensor)) * (1 + PENALTY["ep"] * math.log2(par.expert))
               * (1 + PENALTY["cp"] * math.log2(par.context)) * (1 + (par.pipeline - 1) / MICRO_BATCHES)
               * (1 + PENALTY["offload"] * r.optimizer.cpu_offload))
    return flops / (world * tflops * 1e12 * MFU) * penalty


def _explained(row: Row, base: Recipe, shape: ModelShape) -> Row:
    """The row's reasons in the guidance's terms, and a last check with the whole registry."""
    findings = run_checks(Resolved(row.recipe, shape, row.overrides))
    if errors(findings):  # a checkpoint rule (paths): the layout is fine, the recipe's paths are not
        raise UserError("the recommended layout fails a pre-flight rule of the base recipe",
                        [f.problem() for f in errors(findings)])
    r, e = row.recipe, row.estimate
    gpu = GPUS[r.cluster.gpu]
    why = [WHY_MODE[r.precision.mode]]
    bf16 = estimate(_apply(r, {"precision.mode": "bf16"}), shape).rollout
    if e.rollout.weights < bf16.weights:
        kv = (f"{bf16.kv_tokens:,} with BF16" if bf16.kv_tokens else "BF16 weights would not fit this engine")
        why.append(f"rollout weights {e.rollout.weights / GB:.1f} GB/GPU, {(bf16.weights - e.rollout.weights) / GB:.1f}"
                   f" GB less than BF16: {e.rollout.kv_tokens:,} KV tokens per engine ({kv})")
    else:
        why.append(f"rollout weights {e.rollout.weights / GB:.1f} GB/GPU, {e.rollout.kv_tokens:,} KV tokens per engine")
    if mode(r.precision.mode).qat:
        share = e.params.experts / e.params.total
        why.append(f"QAT fake-quantizes routed experts only ({share:.0%} of the parameters)")
    feature = mode(r.precision.mode).train_feature
    if feature:
        why.append(f"{FEATURE_NAMES[feature]} needs compute capability >= {MIN_COMPUTE_CAPABILITY[feature]}"
                   f" ({gpu.name} has {gpu.compute_capability})")
    why.append(f"training {e.train.total / GB:.0f} of {gpu.memory_gb:.0f} GB per GPU")
    if r.optimizer.cpu_offload:
        why.append(f"optimizer states on the host ({e.train.host_optimizer / GB:.0f} GB per GPU of host RAM)")
    if not r.cluster.colocate:
        why.append(f"training on {layout(r).world} GPUs, rollout on {layout(r).rollout_gpus} others")
    why.append(f"modelled step: {row.rollout_share:.0%} rollout, {1 - row.rollout_share:.0%} training")
    return Row(r, row.overrides, row.index, row.rollout_share, e, tuple(why),
               tuple(f.line() for f in warnings(findings)))


def _exclusion(mode_name: str, log: _ModeLog, usable: float) -> Exclusion:
    rule, message = log.binding(usable)
    return Exclusion(mode_name, rule, message)


def _infeasible(req: Request, logs: dict[str, _ModeLog], usable: float) -> UserError:
    reasons = [_exclusion(m, logs[m], usable) for m in req.modes]
    return UserError(
        f"nothing fits on {req.nodes}x{req.gpus_per_node} {req.gpu}",
        [_problem(x, req) for x in reasons])


def _problem(x: Exclusion, req: Request) -> Problem:
    return Problem(f"precision={x.mode}", x.message, rule=x.reason,
                   hint=f"more nodes than {req.nodes}, a GPU with more memory, or a lower-precision mode")


def _overrides(base: Recipe, r: Recipe) -> tuple[str, ...]:
    """The Hydra overrides that turn the base recipe into `r` (group option for the mode, fields for the rest)."""
    out = [f"precision={r.precision.mode}"] if r.precision.mode != base.precision.mode else []
    old, new = flatten(base.model_dump(mode="json")), flatten(r.model_dump(mode="json"))
    for key in sorted(new):
        if key != "precision.mode" and old.get(key) != new[key]:
            out.append(f"{key}={_yaml_value(new[key])}")
    return tuple(out)


def _yaml_value(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _apply(r: BaseModel, fields: dict[str, object]) -> BaseModel:
    """A copy of `r` with dotted fields replaced. `model_copy` skips validation: every value here comes from
    the search's own enumeration within the schema's ranges, and the written recipe is validated in full."""
    nested: dict[str, dict[str, object]] = {}
    update: dict[str, object] = {}
    for key, value in fields.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            update[head] = value
    for head, sub in nested.items():
        update[head] = _apply(getattr(r, head), sub)
    return r.model_copy(update=update)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _powers_of_two(limit: int) -> list[int]:
    return [2 ** k for k in range(0, max(0, limit).bit_length()) if 2 ** k <= limit]


# The recipe a model's rows start from when no shipped recipe uses it: generic GRPO settings.
TEMPLATE_RECIPE = "qwen3-4b-bf16"


def base_recipe(model: str | None, model_config: str | None, recipes_dir: str | None = None) -> tuple[str, list[str]]:
    """(recipe name, overrides) to start from: a recipe that uses this model option, else the template with
    the model swapped in (a group option, or a config.json path)."""
    if model_config:
        return TEMPLATE_RECIPE, [f"model.config={model_config}", f"model.name={_model_name(model_config)}"]
    if not model:
        raise user_error("MODEL", "no model given", hint="name a model option (recipe-runner list --groups) "
                         "or pass --model-config PATH")
    options = group_options("model", recipes_dir)
    if model not in options:
        close = difflib.get_close_matches(model, options, n=1)
        raise user_error("MODEL", f"unknown model {model!r}", rule="models are the model/ group options",
                         hint=f"did you mean {close[0]!r}?" if close else "one of: " + ", ".join(options))
    for name, path in list_recipes(recipes_dir):
        if {"model": model} in _defaults(path):
            return name, []
    return TEMPLATE_RECIPE, [f"model={model}"]


def _defaults(path) -> list:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return []
    return data.get("defaults", []) if isinstance(data, dict) else []


def _model_name(config_path: str) -> str:
    p = Path(config_path)
    return (p.parent.name if p.name == "config.json" else p.name) or "model"


def text(rec: Recommendation) -> str:
    """The ranked table, each row's reasons, and the modes that do not fit with the rule that excludes them."""
    req = rec.request
    lines = [f"{rec.model} on {req.nodes}x{req.gpus_per_node} {req.gpu} (from recipe {rec.base}; "
             f"headroom {req.headroom:.0%}; index 1.00 = {rec.baseline}; {rec.evaluated} candidates checked)", ""]
    head = ("#", "mode", "train layout", "rollout engine", "train GB/GPU", "rollout GB/GPU", "KV tokens/engine",
            "index")
    table = [head] + [(str(i), r.mode, _train_label(r.recipe), _engine_label(r.recipe),
                       f"{r.estimate.train.total / GB:.0f}", f"{r.estimate.rollout.weights / GB:.1f}",
                       f"{r.estimate.rollout.kv_tokens:,}", f"{r.index:.2f}") for i, r in enumerate(rec.rows, 1)]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table]
    for i, r in enumerate(rec.rows, 1):
        lines += ["", f"{i}. {r.mode} -- " + "; ".join(r.why)]
        lines += [f"   overrides: {' '.join(r.overrides) or '(none)'}"]
        lines += [f"   warning: {w}" for w in r.warnings]
    if rec.excluded:
        lines += ["", "excluded:"] + [f"  {x.mode}: {x.message} [{x.reason}]" for x in rec.excluded]
    return "\n".join(lines) + "\n"


def as_dict(rec: Recommendation) -> dict:
    req = rec.request
    return {
        "base": rec.base, "model": rec.model, "gpu": req.gpu, "nodes": req.nodes, "gpus_per_node": req.gpus_per_node,
        "headroom": req.headroom, "baseline": rec.baseline, "evaluated": rec.evaluated,
        "rows": [{"mode": r.mode, "train_layout": _train_label(r.recipe), "rollout_engine": _engine_label(r.recipe),
                  "train_gb_per_gpu": round(r.estimate.train.total / GB, 2),
                  "rollout_weights_gb_per_gpu": round(r.estimate.rollout.weights / GB, 2),
                  "kv_tokens_per_engine": r.estimate.rollout.kv_tokens, "index": round(r.index, 4),
                  "rollout_share": round(r.rollout_share, 4), "overrides": list(r.overrides), "why": list(r.why),
                  "warnings": list(r.warnings)} for r in rec.rows],
        "excluded": [{"mode": x.mode, "rule": x.reason, "message": x.message} for x in rec.excluded],
    }


def _train_label(r: Recipe) -> str:
    p = r.parallel
    parts = [f"TP{p.tensor}", f"PP{p.pipeline}", f"CP{p.context}", f"EP{p.expert}"]
    if r.optimizer.cpu_offload:
        parts.append("offload")
    parts.append("colocated" if r.cluster.colocate else f"{layout(r).world} GPUs")
    return " ".join(parts)


def _engine_label(r: Recipe) -> str:
    ep = r.rollout.sglang.expert_parallel_size
    return f"{r.rollout.gpus_per_engine} GPU" + (f" EP{ep}" if ep else "") + (
        "" if r.cluster.colocate else f" on {layout(r).rollout_gpus}")
