"""Layout rules: GPU counts vs parallelism, pipeline stages, batch sizes, rollout engines.

Sources: Megatron-LM@1dcf0daf and slime@624b824a as listed in reference §3.8, §3.9 and §9.
"""

from __future__ import annotations

from collections.abc import Iterator

from recipe_runner.checks.finding import Finding, error
from recipe_runner.checks.registry import rule
from recipe_runner.layout import label, layout
from recipe_runner.models import ModelShape
from recipe_runner.spec import Recipe

MEGATRON_ARGS = "NVIDIA/Megatron-LM@1dcf0daf:megatron/training/arguments.py"
PARALLEL_STATE = "NVIDIA/Megatron-LM@1dcf0daf:megatron/core/parallel_state.py"
SLIME_ARGS = "THUDM/slime@624b824a:slime/utils/arguments.py"
TRANSFORMER_CONFIG = "NVIDIA/Megatron-LM@1dcf0daf:megatron/core/transformer/transformer_config.py"


@rule("layout.world-model-parallel", "error", source=f"{MEGATRON_ARGS}:317-328")
def world_vs_model_parallel(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    p, lay = r.parallel, layout(r)
    world, prod = lay.world, lay.model_parallel
    if not lay.dp:
        yield error("layout.world-model-parallel", "parallel.tensor",
                    f"{world} GPUs ({label(r)}) is not divisible by "
                    f"TP*PP*CP = {p.tensor}*{p.pipeline}*{p.context} = {prod}",
                    hint=f"choose TP, PP, CP whose product divides {world}")


@rule("layout.world-expert-parallel", "error", source=f"{PARALLEL_STATE}:790-797")
def world_vs_expert_parallel(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    p, lay = r.parallel, layout(r)
    world, prod = lay.world, lay.expert_model_parallel
    if not lay.expert_dp:
        yield error("layout.world-expert-parallel", "parallel.expert",
                    f"{world} GPUs is not divisible by ETP*EP*PP = {p.expert_tensor}*{p.expert}*{p.pipeline} = {prod}",
                    hint=f"choose ETP, EP, PP whose product divides {world}")


@rule("layout.ep-dense", "error", source=f"{MEGATRON_ARGS}:1024-1027 (EP needs experts)")
@rule("layout.experts-ep", "error", source=f"{MEGATRON_ARGS}:1024-1027")
def experts_vs_ep(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    ep = r.parallel.expert
    if ep > 1 and not s.is_moe:
        yield error("layout.ep-dense", "parallel.expert", f"expert parallel size {ep} on a dense model",
                    hint="set parallel.expert=1")
    elif ep > 1 and s.experts % ep:
        yield error("layout.experts-ep", "parallel.expert",
                    f"{s.experts} experts are not divisible by EP={ep}",
                    hint=f"use an EP that divides {s.experts}")


@rule("layout.uneven-pp-without-pp", "error",
      source="THUDM/slime@624b824a:slime/backends/megatron_utils/arguments.py:90-94")
@rule("layout.layers-pp", "error", source=f"{MEGATRON_ARGS}:558-571")
@rule("layout.uneven-pp", "error", source=f"{TRANSFORMER_CONFIG}:1385-1445")
def layers_vs_pp(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    p = r.parallel
    first, last = p.decoder_first_pipeline_layers, p.decoder_last_pipeline_layers
    if p.pipeline == 1:
        if first or last:
            yield error("layout.uneven-pp-without-pp", "parallel.decoder_last_pipeline_layers",
                        "uneven pipeline stages are set but pipeline=1",
                        hint="unset decoder_first/last_pipeline_layers or raise parallel.pipeline")
        return
    middle_stages = p.pipeline - (first is not None) - (last is not None)
    rest = s.layers - (first or 0) - (last or 0)
    if not (first or last):
        if s.layers % p.pipeline:
            yield error("layout.layers-pp", "parallel.pipeline",
                        f"{s.layers} layers are not divisible by PP={p.pipeline}",
                        hint="pick a PP that divides the layer count, or set "
                        "parallel.decoder_last_pipeline_layers for an uneven last stage")
    elif rest <= 0 or (middle_stages == 0 and rest != 0) or (middle_stages and rest % middle_stages):
        yield error("layout.uneven-pp", "parallel.decoder_last_pipeline_layers",
                    f"{s.layers} layers minus first={first} / last={last} leaves {rest} layers for "
                    f"{middle_stages} middle stages", hint="the remaining layers must split evenly over the "
                    "middle stages (e.g. 94 layers, PP 4, last 22 -> 24 per stage)")


@rule("batch.steps-per-rollout", "error", source=f"{SLIME_ARGS}:1971-1979")
@rule("batch.gbs-dp", "error",
      source="NVIDIA/Megatron-LM@1dcf0daf:megatron/core/num_microbatches_calculator.py:340-345")
@rule("batch.gbs-zero", "error",
      source=f"{SLIME_ARGS}:1971-1979 (the global batch derived from num_steps_per_rollout)")
@rule("batch.over-sampling", "error", source=f"{SLIME_ARGS}:1985-1991")
def batch_vs_dp(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    ro, lay = r.rollout, layout(r)
    if ro.num_steps_per_rollout and ro.global_batch_size is not None:
        derived = ro.batch_size * ro.n_samples_per_prompt // ro.num_steps_per_rollout
        if derived != ro.global_batch_size:
            yield error("batch.steps-per-rollout", "rollout.global_batch_size",
                        f"global_batch_size={ro.global_batch_size} but batch_size*n_samples/num_steps_per_rollout"
                        f" = {derived}", hint="set one of them, not both")
    if lay.dp and lay.global_batch_size % lay.dp:
        yield error("batch.gbs-dp", "rollout.global_batch_size",
                    f"global batch {lay.global_batch_size} is not divisible by data-parallel size {lay.dp}",
                    hint=f"use a global batch that is a multiple of {lay.dp}")
    if lay.global_batch_size < 1:
        yield error("batch.gbs-zero", "rollout.num_steps_per_rollout", "the derived global batch is 0",
                    hint="lower rollout.num_steps_per_rollout")
    if ro.over_sampling_batch_size is not None and ro.over_sampling_batch_size < ro.batch_size:
        yield error("batch.over-sampling", "rollout.over_sampling_batch_size",
                    f"{ro.over_sampling_batch_size} is below rollout.batch_size={ro.batch_size}",
                    hint="make it >= rollout.batch_size")


@rule("rollout.gpus-unset", "error", source=f"{SLIME_ARGS}:1939-1966")
@rule("rollout.gpus-per-engine", "error", source="THUDM/slime@624b824a:slime/ray/rollout.py:1033-1035")
@rule("rollout.multi-node-engine", "error", source="THUDM/slime@624b824a:slime/ray/rollout.py:70-71")
@rule("rollout.sglang-ep", "error", source="SGLang expert-parallel docs (EP divides TP); reference §3.9")
@rule("rollout.sglang-dp-attention", "error",
      source="THUDM/slime@624b824a:slime/backends/sglang_utils/arguments.py:183-184")
def rollout_engines(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    ro, c, lay = r.rollout, r.cluster, layout(r)
    per = ro.gpus_per_engine
    if not c.colocate and c.rollout_gpus is None:
        yield error("rollout.gpus-unset", "cluster.rollout_gpus", "rollout GPUs are not set and colocate is off",
                    hint="set cluster.rollout_gpus=N or cluster.colocate=true")
    if lay.rollout_gpus and lay.rollout_gpus % per:
        yield error("rollout.gpus-per-engine", "rollout.gpus_per_engine",
                    f"{lay.rollout_gpus} rollout GPUs are not divisible by {per} GPUs per engine "
                    "(slime would leave the remainder idle)", hint=f"use a divisor of {lay.rollout_gpus}")
    if per > c.gpus_per_node and per % c.gpus_per_node:
        yield error("rollout.multi-node-engine", "rollout.gpus_per_engine",
                    f"an engine of {per} GPUs spans nodes of {c.gpus_per_node} GPUs unevenly",
                    hint=f"use a multiple of {c.gpus_per_node}")
    ep = ro.sglang.expert_parallel_size
    if ep and per % ep:
        yield error("rollout.sglang-ep", "rollout.sglang.expert_parallel_size",
                    f"SGLang EP {ep} does not divide the engine's {per} GPUs", hint=f"use a divisor of {per}")
    if (ro.sglang.data_parallel_size or 1) > 1 and not ro.sglang.enable_dp_attention:
        yield error("rollout.sglang-dp-attention", "rollout.sglang.enable_dp_attention",
                    "SGLang dp size > 1 needs DP attention", hint="set rollout.sglang.enable_dp_attention=true")


@rule("layout.heads-tp", "error", source="Megatron-derived head split (pain-points §5)")
@rule("layout.kv-heads-tp", "error",
      source='"num_query_groups must be divisible by tensor_model_parallel_size" (pain-points §5)')
@rule("rollout.heads-tp", "error", source="SGLang attention head sharding (pain-points §5)")
@rule("rollout.kv-heads-tp", "error", source="SGLang KV-head shard/replicate rule (pain-points §5)")
def heads_vs_tp(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    tp = r.parallel.tensor
    if s.heads % tp:
        yield error("layout.heads-tp", "parallel.tensor", f"{s.heads} attention heads are not divisible by TP={tp}",
                    hint="pick a TP that divides the head count")
    if not s.mla and s.kv_heads % tp:
        yield error("layout.kv-heads-tp", "parallel.tensor",
                    f"{s.kv_heads} KV heads (query groups) are not divisible by TP={tp}",
                    hint=f"use TP <= {s.kv_heads} that divides it")
    etp = r.rollout.gpus_per_engine
    if s.heads % etp:
        yield error("rollout.heads-tp", "rollout.gpus_per_engine",
                    f"{s.heads} attention heads are not divisible by the engine's TP={etp}",
                    hint="pick GPUs per engine that divide the head count")
    if not s.mla and s.kv_heads % etp and etp % s.kv_heads:
        yield error("rollout.kv-heads-tp", "rollout.gpus_per_engine",
                    f"{s.kv_heads} KV heads and engine TP={etp}: neither divides the other",
                    hint="SGLang shards or replicates KV heads only when one divides the other")


@rule("eval.no-datasets", "error", source=f"{SLIME_ARGS}:1840-1841")
@rule("training.deepep-dense", "error", source=f"{TRANSFORMER_CONFIG}:1089-1091")
def flag_dependencies(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    t = r.training
    if r.data.eval.interval and not r.data.eval.datasets:
        yield error("eval.no-datasets", "data.eval.datasets", "eval interval is set but there is no eval dataset",
                    hint="add data.eval.datasets.NAME=PATH or unset data.eval.interval")
    if t.deepep and not s.is_moe:
        yield error("training.deepep-dense", "training.deepep", "DeepEP on a dense model",
                    hint="set training.deepep=false")


@rule("wandb.project", "error", source="reference §9.13")
def wandb_block(r: Recipe, s: ModelShape) -> Iterator[Finding]:
    if r.wandb.enabled and not r.wandb.project:
        yield error("wandb.project", "wandb.project", "W&B is enabled without a project",
                    hint="set wandb.project=NAME")
