"""The rule registry: one named tripping case per rule id, each reporting exactly its rule; the docs list the
registry; every rule module registers through `recipe_runner.checks`.

A case is a shipped recipe, overrides `given` to both runs, and the `trigger` overrides. It trips its rule when
the triggered run reports that rule id and no other id the given run does not report.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

import recipe_runner.checks
from recipe_runner.checks import CONCERNS, REGISTRY, rules, run_checks
from recipe_runner.checks.finding import error
from recipe_runner.checks.registry import run
from recipe_runner.resolve import resolve
from tests.checks.fake_checkpoints import FP8, KIMI_INT4, moe_names, write_checkpoint, write_torch_dist
from tests.checks.rule_cases import int4

ROOT = Path(__file__).resolve().parents[2]
Override = str | Callable[[Path], str]


def ckpt(field: str, model: str, quantization: dict | None = None, names: list[str] | None = None,
         **config: object) -> Callable[[Path], str]:
    """`field=DIR` for a fake checkpoint of `model` written under the test's tmp dir."""
    return lambda tmp: f"{field}={write_checkpoint(tmp / field, model, quantization, names, **config)}"


def torch_dist(tmp: Path) -> str:
    return f"checkpoints.ref_load={write_torch_dist(tmp / 'torch_dist')}"


@dataclass(frozen=True)
class Trip:
    recipe: str
    trigger: tuple[Override, ...]
    given: tuple[Override, ...] = ()


BF16 = moe_names(packed=False)
FP8_NAMES = [*BF16, "model.layers.0.mlp.experts.0.up_proj.weight_scale_inv"]
MISSING_ROLLOUT = "checkpoints.rollout=/nonexistent/rollout"
# rule id -> the case that trips it (and only it).
TRIPS: dict[str, Trip] = {
    "layout.world-model-parallel": Trip("qwen3-30b-a3b-int4", ("parallel.context=3",)),
    "layout.world-expert-parallel": Trip("qwen3-30b-a3b-int4", ("parallel.expert=16",)),
    "layout.ep-dense": Trip("qwen3-4b-fp8", ("parallel.expert=2",)),
    "layout.experts-ep": Trip("qwen3-30b-a3b-int4", ("cluster.gpus_per_node=6", "parallel.tensor=1",
                                                     "parallel.expert=6", "rollout.global_batch_size=252")),
    "layout.uneven-pp-without-pp": Trip("qwen3-4b-fp8", ("parallel.decoder_last_pipeline_layers=4",)),
    "layout.layers-pp": Trip("qwen3-4b-fp8", ("parallel.tensor=1", "parallel.pipeline=8")),
    "layout.uneven-pp": Trip("qwen3-235b-a22b-int4", ("parallel.decoder_last_pipeline_layers=20",)),
    "batch.steps-per-rollout": Trip("moonlight-16b-a3b-int4", ("rollout.global_batch_size=128",)),
    "batch.gbs-dp": Trip("qwen3-30b-a3b-int4", ("rollout.global_batch_size=255",)),
    "batch.gbs-zero": Trip("moonlight-16b-a3b-int4", ("rollout.num_steps_per_rollout=2000",)),
    "batch.over-sampling": Trip("moonlight-16b-a3b-int4", ("rollout.over_sampling_batch_size=64",)),
    "rollout.gpus-unset": Trip("qwen3-4b-bf16", ("cluster.colocate=false",),
                               given=("rollout.max_response_len=2048",)),  # one engine's KV holds the batch
    "rollout.gpus-per-engine": Trip("qwen3-4b-bf16", ("rollout.gpus_per_engine=16",)),
    "rollout.multi-node-engine": Trip("qwen3-4b-bf16", ("cluster.nodes=4", "cluster.gpus_per_node=6",
                                                        "rollout.gpus_per_engine=8"),
                                      given=("rollout.global_batch_size=240",)),  # divisible by the new DP
    "rollout.sglang-ep": Trip("qwen3-30b-a3b-fp8", ("rollout.sglang.expert_parallel_size=3",)),
    "rollout.sglang-dp-attention": Trip("qwen3-30b-a3b-fp8", ("rollout.sglang.data_parallel_size=2",)),
    "layout.heads-tp": Trip("qwen3-4b-bf16", ("model.config_overrides.num_attention_heads=36", "parallel.tensor=8")),
    "layout.kv-heads-tp": Trip("qwen3-30b-a3b-int4", ("parallel.tensor=8",)),
    "rollout.heads-tp": Trip("qwen3-4b-bf16", ("model.config_overrides.num_attention_heads=36",
                                               "rollout.gpus_per_engine=8")),
    "rollout.kv-heads-tp": Trip("qwen3-4b-bf16", ("model.config_overrides.num_attention_heads=48",
                                                  "model.config_overrides.num_key_value_heads=12",
                                                  "rollout.gpus_per_engine=8")),
    "eval.no-datasets": Trip("qwen3-4b-fp8", ("~data.eval.datasets",)),
    "training.deepep-dense": Trip("qwen3-4b-fp8", ("training.deepep=true",)),
    "wandb.project": Trip("qwen3-4b-fp8", ("wandb.enabled=true",)),
    "precision.gpu": Trip("qwen3-4b-fp8", ("cluster.gpu=A100",)),
    "precision.fp8-param-gather-mode": Trip("qwen3-4b-bf16", ("precision.fp8_param_gather=true",)),
    "precision.fp8-param-gather-offload": Trip("qwen3-30b-a3b-fp8", ("precision.fp8_param_gather=true",)),
    # an explicit rollout checkpoint: nothing to convert, so only the QAT rule speaks
    "precision.qat-dense": Trip("qwen3-4b-fp8", ("precision=int4-qat",), given=(MISSING_ROLLOUT,)),
    "precision.conversion-empty": Trip("qwen3-4b-fp8-rollout", ("precision=int4-rollout",)),
    "optimizer.precision-aware": Trip("qwen3-30b-a3b-int4", ("optimizer.precision_aware=false",)),
    "shapes.fp8-block": Trip("qwen3-30b-a3b-fp8", ("rollout.sglang.expert_parallel_size=null",)),
    "shapes.int4-group": Trip("moonlight-16b-a3b-int4", ("rollout.sglang.expert_parallel_size=null",)),
    "shapes.int4-group-train": Trip("qwen3-30b-a3b-int4", ("parallel.expert=2", "parallel.expert_tensor=4")),
    "shapes.fp8-moe-intermediate": Trip("qwen3-30b-a3b-fp8", ("model.config_overrides.moe_intermediate_size=1000",)),
    "checkpoint.not-found": Trip("qwen3-4b-bf16", ("checkpoints.hf=/nonexistent/hf",),
                                 given=(ckpt("checkpoints.hf", "qwen3-4b"), torch_dist)),
    "checkpoint.convert-output": Trip("qwen3-30b-a3b-fp8-rollout", ("checkpoints.rollout=null",),
                                      given=(ckpt("checkpoints.rollout", "qwen3-30b-a3b", FP8, FP8_NAMES),
                                             torch_dist)),
    "checkpoint.rollout-quantization": Trip("qwen3-30b-a3b-fp8-rollout",
                                            (ckpt("checkpoints.rollout", "qwen3-30b-a3b", None, BF16),)),
    # int4-rollout: the mode sets no OPEN_TRAINING_INT4_GROUP_SIZE, so neither companion.mode-env nor the env
    # rule joins in
    "checkpoint.int4-group-size": Trip("qwen3-30b-a3b-int4-rollout", (ckpt(
        "checkpoints.rollout", "qwen3-30b-a3b", int4(weights={"group_size": 32})),)),
    "checkpoint.int4-env-group-size": Trip("qwen3-30b-a3b-int4-rollout",
                                           ("launch.env.OPEN_TRAINING_INT4_GROUP_SIZE='32'",),
                                           given=(ckpt("checkpoints.rollout", "qwen3-30b-a3b", int4()),)),
    "checkpoint.int4-ignore": Trip("qwen3-30b-a3b-int4", (ckpt(
        "checkpoints.rollout", "qwen3-30b-a3b", int4(ignore=["lm_head", "re:.*self_attn.*", "re:.*embed_tokens.*"])),)),
    "checkpoint.int4-nothing-quantized": Trip("qwen3-30b-a3b-int4", (ckpt(
        "checkpoints.rollout", "qwen3-30b-a3b", int4(ignore=["re:.*"]), BF16),)),
    "checkpoint.int4-experts-ignored": Trip("qwen3-30b-a3b-int4", (ckpt(
        "checkpoints.rollout", "qwen3-30b-a3b", int4(ignore=[*KIMI_INT4["ignore"], "re:.*experts\\.0\\."]), BF16),)),
    "checkpoint.ref-load": Trip("qwen3-4b-bf16", (ckpt("checkpoints.ref_load", "qwen3-4b"),)),
    "checkpoint.conversion-source": Trip("qwen3-30b-a3b-fp8-rollout",
                                         (ckpt("checkpoints.bf16", "qwen3-30b-a3b", FP8),)),
    "checkpoint.hf-format": Trip("qwen3-4b-bf16", ("checkpoints.hf_format=fp8-block",),
                                 given=(ckpt("checkpoints.hf", "qwen3-4b", names=["lm_head.weight"]),)),
    "checkpoint.dequant-source": Trip("qwen3-4b-bf16", (ckpt("checkpoints.hf", "qwen3-4b", FP8),)),
    "checkpoint.torch-dist-args": Trip("qwen3-4b-bf16", (
        lambda tmp: f"checkpoints.torch_dist={write_torch_dist(tmp / 'dist', model_args=['--num-layers', '2'])}",)),
    "checkpoint.torch-dist-nodes": Trip("kimi-k2-thinking-int4", ("checkpoints.torch_dist_nodes=8",)),
    # a field slime's start-up check does not compare (rope_theta would trip model.hf-validate as well)
    "checkpoint.model-config": Trip("qwen3-4b-bf16", (ckpt("checkpoints.hf", "qwen3-4b", vocab_size=151000),)),
    "model.hf-validate": Trip("qwen3-4b-bf16", ("model.extra_args=[--rotary-base,'5000000']",)),
    "companion.fp8-small-dense": Trip("qwen3-4b-fp8-rollout", ("algorithm.use_tis=false",),
                                      given=("algorithm.use_tis=true",)),
    "companion.colocate-mem-fraction": Trip("qwen3-30b-a3b-int4", ("rollout.sglang.mem_fraction_static=0.9",)),
    "companion.int4-asymmetric": Trip("qwen3-30b-a3b-int4", (ckpt("checkpoints.rollout", "qwen3-30b-a3b",
                                                                  int4(weights={"symmetric": False})),)),
    "companion.delta-colocate": Trip("qwen3-4b-bf16", ("training.extra_args=[--update-weight-mode,delta]",)),
    "companion.offload-extra-args": Trip("qwen3-4b-bf16", ("training.extra_args=[--optimizer-cpu-offload]",)),
    "companion.mode-env": Trip("qwen3-4b-fp8", ("launch.env.NVTE_FP8_BLOCK_SCALING_FP32_SCALES='0'",)),
    "hardware.stack": Trip("qwen3-32b-bf16", ("precision=fp8-rollout",), given=(MISSING_ROLLOUT,)),
    "hardware.caution": Trip("qwen3-4b-fp8", ("cluster.gpu=B200",)),
    "memory.train-states": Trip("qwen3-30b-a3b-int4-rollout", ("optimizer.cpu_offload=false", "parallel.expert=1")),
    "memory.train-total": Trip("qwen3-4b-bf16", ("training.max_tokens_per_gpu=262144",)),
    "memory.rollout-weights": Trip("qwen3-30b-a3b-int4-rollout", ("precision=bf16", "cluster.gpu=L40S")),
    "memory.kv-batch": Trip("qwen3-30b-a3b-int4", ("rollout.max_response_len=65536",)),
    "sglang.unknown-flag": Trip("qwen3-4b-bf16", ("rollout.sglang.extra_args=[--sglang-tp-size,'2']",)),
}


def overrides(items: tuple[Override, ...], tmp: Path) -> list[str]:
    return [o if isinstance(o, str) else o(tmp) for o in items]


def test_every_registered_rule_has_a_tripping_case() -> None:
    assert sorted(set(REGISTRY) - set(TRIPS)) == [], "registered rules without a case in TRIPS"
    assert sorted(set(TRIPS) - set(REGISTRY)) == [], "cases for rule ids the registry does not have"


@cache
def reported(recipe: str, given: tuple[str, ...]) -> frozenset[str]:
    """The rule ids the case's run without its trigger reports (shared by the cases with the same `given`)."""
    return frozenset(f.rule for f in run_checks(resolve(recipe, given)))


@pytest.mark.parametrize("rule_id", list(TRIPS))
def test_case_trips_exactly_its_rule(rule_id: str, tmp_path: Path) -> None:
    trip = TRIPS[rule_id]
    given = overrides(trip.given, tmp_path)
    before = reported(trip.recipe, tuple(given))
    findings = run_checks(resolve(trip.recipe, [*given, *overrides(trip.trigger, tmp_path)]))
    new = [f.line() for f in findings if f.rule not in before]
    assert {f.rule for f in findings} - before == {rule_id}, new
    declared = REGISTRY[rule_id]
    for f in (f for f in findings if f.rule == rule_id):
        assert f.severity in declared.severities and f.message and f.path
        assert f.source, f"{rule_id} finding without a source"


def test_a_finding_its_rule_did_not_declare_is_a_bug() -> None:
    def undeclared(r: object, s: object) -> list:
        return [error("layout.heads-tp", "parallel.tensor", "reported by a function that did not declare it")]

    resolved = resolve("qwen3-4b-bf16")
    with pytest.raises(RuntimeError, match="layout.heads-tp"):
        run(undeclared, resolved.recipe, resolved.shape)


def test_every_rule_module_registers_through_the_package() -> None:
    """A checks module whose rules the runner does not order (not in CONCERNS) would never run in order."""
    for info in pkgutil.iter_modules(recipe_runner.checks.__path__):
        importlib.import_module(f"recipe_runner.checks.{info.name}")
    assert {r.check.__module__ for r in REGISTRY.values()} == {m.__name__ for m in CONCERNS}
    assert len(rules()) == len(REGISTRY)


def test_every_rule_function_is_registered() -> None:
    """A `(recipe, shape) -> findings` function in a rule module without @rule would never run."""
    registered = {r.check for r in REGISTRY.values()}
    for module in CONCERNS:
        rule_like = [fn for fn in vars(module).values() if inspect.isfunction(fn) and fn.__module__ == module.__name__
                     and fn.__annotations__.get("return") == "Iterator[Finding]"
                     and list(fn.__annotations__)[:2] == ["r", "s"]]
        assert rule_like and [fn.__name__ for fn in rule_like if fn not in registered] == [], module.__name__


def test_docs_list_the_registry() -> None:
    """docs/checks.md's table: one row per registered rule, with its severity and source as registered."""
    text = (ROOT / "docs" / "checks.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9.-]+)` \| ([a-z, ]+) \| [^|]* \| (.*?) \| `", text, flags=re.M)
    assert len(rows) == len({r[0] for r in rows}), "a rule listed twice"
    assert {rid: (sev, src) for rid, sev, src in rows} == {
        r.id: (", ".join(r.severities), r.source) for r in rules()}
