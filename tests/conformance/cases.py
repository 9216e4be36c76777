"""The conformance matrix: every shipped recipe x every precision mode its model allows x the layout overrides,
then a flag sweep: override sets that make the plan emit every optional flag the argument builder knows.

A combination our own checks reject is not a case (recorded as `n/a` with the first reason); every other
combination's plan goes to slime's real parser (worker.py). Last, every shipped recipe's torch-dist step: the argv
of slime's HF -> torch_dist converter, parsed the way the tool parses it."""

from __future__ import annotations

from dataclasses import dataclass

from recipe_runner import api, doctor
from recipe_runner.compose import list_recipes
from recipe_runner.errors import UserError
from recipe_runner.plan import build_plan
from recipe_runner.precision import MODES
from recipe_runner.prep_steps import TorchDist
from recipe_runner.resolve import resolve
from recipe_runner.torch_dist_job import TOOL


@dataclass(frozen=True)
class Case:
    id: str
    recipe: str
    mode: str
    override: str  # "" = as shipped
    skipped: str  # our checks' reason when this combination is not valid; "" when it is a case
    request: dict


def layout_overrides(name: str) -> list[tuple[str, list[str]]]:
    """As shipped, 2 nodes, a 1x4 H200 cluster, TP and EP halved and doubled (where a change exists)."""
    p = resolve(name).recipe.parallel
    out = [("", []), ("cluster.nodes=2", ["cluster.nodes=2"]), ("cluster=h200-1x4", ["cluster=h200-1x4"])]
    for key, size in (("tensor", p.tensor), ("expert", p.expert)):
        for new in ({size // 2, size * 2} - {0, size}):
            out.append((f"parallel.{key}={new}", [f"parallel.{key}={new}"]))
    return sorted(out, key=lambda o: o[0])


# Every optional emitter of plan.py / tracking.py / precision.py turned on somewhere (the shipped recipes
# already emit eval, --eval-top-p, --sglang-ep-size, --decoder-last-pipeline-num-layers, CPU offload, TIS).
SWEEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("qwen3-30b-a3b-int4", ("cluster.colocate=false", "cluster.nodes=2", "cluster.rollout_gpus=8",
                            "wandb.enabled=true", "wandb.project=p", "wandb.team=t", "wandb.dir=/tmp/w",
                            "wandb.mode=offline", "rollout.over_sampling_batch_size=64",
                            "rollout.dynamic_sampling_filter=slime.rollout.filter_hub.dynamic_sampling_filters"
                            ".check_reward_nonzero_std", "rollout.sglang.server_concurrency=256",
                            "training.update_weight_buffer_size=1073741824",
                            "training.check_for_nan_in_loss_and_grad=false", "training.deepep=true")),
    ("qwen3-30b-a3b-fp8", ("precision.fp8_param_gather=true", "parallel.pipeline=2", "cluster.nodes=2",
                           "parallel.decoder_last_pipeline_layers=20", "rollout.global_batch_size=null",
                           "rollout.num_steps_per_rollout=2", "optimizer.cpu_offload=false", "training.recompute=false",
                           "training.dynamic_batch_size=false", "algorithm.use_kl_loss=false",
                           "algorithm.eps_clip_high=null")),
    ("qwen3-235b-a22b-int4", ("parallel.decoder_first_pipeline_layers=22",
                              "parallel.decoder_last_pipeline_layers=null")),
    ("kimi-k2-thinking-int4", ("rollout.sglang.expert_parallel_size=8", "rollout.sglang.data_parallel_size=8",
                               "rollout.sglang.enable_dp_attention=true")),
    ("qwen3-4b-bf16", ("training.attention_backend=null", "data.apply_chat_template=false",
                       "data.rollout_shuffle=false", "data.balance_data=false", "checkpoints.load=null",
                       "checkpoints.save=null", "checkpoints.save_interval=null")),
    # the derived --load/--save with the schema's --save-interval (Megatron requires it with --save)
    ("qwen3-32b-bf16", ("checkpoints.load=null", "checkpoints.save=null", "~checkpoints.save_interval")),
)


def torch_dist_cases(recipes_dir: str | None = None) -> list[Case]:
    """Every shipped recipe's torch-dist step: slime's converter parses its argv with Megatron's parser and the
    tool's own arguments, in a world of the step's processes (it shares Megatron's model arguments with train.py)."""
    out = []
    for name, _ in list_recipes(recipes_dir):
        resolved, findings = api.check(name, [], recipes_dir)
        p = build_plan(resolved, findings)
        step = next(s for s in p.steps if isinstance(s, TorchDist))
        req = doctor.request(resolved.recipe, p, resolved.shape.config)
        cid = f"{name} torch-dist"
        out.append(Case(cid, name, resolved.recipe.precision.mode, "torch-dist step", "", {
            "id": cid, "kind": "torch-dist", "train_args": step.converter_argv[step.converter_argv.index(TOOL) + 1:],
            "env": {"WORLD_SIZE": str(step.nnodes * step.nproc_per_node)}, "model_config": req["model_config"],
            "gpu_capability": req["gpu_capability"]}))
    return out


def cases(recipes_dir: str | None = None) -> list[Case]:
    out = []
    for name, _ in list_recipes(recipes_dir):
        for mode in MODES:
            for label, overrides in layout_overrides(name):
                out.append(case(name, mode, label, [f"precision={mode}", *overrides], recipes_dir))
    for name, overrides in SWEEPS:
        mode = resolve(name, (), recipes_dir).recipe.precision.mode
        out.append(case(name, mode, "sweep: " + " ".join(overrides), list(overrides), recipes_dir))
    return out + torch_dist_cases(recipes_dir)


def case(name: str, mode: str, label: str, overrides: list[str], recipes_dir: str | None) -> Case:
    cid = f"{name} precision={mode} {label}".strip()
    try:
        resolved, findings = api.check(name, overrides, recipes_dir)
    except UserError as e:
        return Case(cid, name, mode, label, f"{e.problems[0].where}: {e.problems[0].message}" if e.problems
                    else str(e), {})
    req = doctor.request(resolved.recipe, build_plan(resolved, findings), resolved.shape.config)
    return Case(cid, name, mode, label, "", {"id": cid, **req})
