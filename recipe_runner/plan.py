"""Recipe -> Plan: the ordered steps, the job's env vars and slime's train.py argv. Pure.

Argument groups and their order follow THUDM/slime@624b824a:scripts/low_precision/*.sh
(MODEL, CKPT, ROLLOUT, OPTIMIZER, GRPO, WANDB, PERF, EVAL, SGLANG, MISC; reference §1.1).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from recipe_runner import prep_steps, tracking
from recipe_runner.ckpt_paths import CheckpointPaths, derive
from recipe_runner.models import model_flags
from recipe_runner.precision import job_env, mode
from recipe_runner.resolve import Resolved
from recipe_runner.spec import Recipe
from recipe_runner.steps import (
    LOCAL_HOST,
    Arg,
    Job,
    RayHead,
    RayWorkers,
    Step,
    TrainArgs,
    dashboard_url,
    split_flags,
)

if TYPE_CHECKING:  # the checks depend on the plan's facts (checks.checkpoint), not the other way round
    from recipe_runner.checks import Finding


@dataclass(frozen=True)
class Plan:
    recipe: str
    mode: str
    fingerprint: str
    env: dict[str, str]
    train: TrainArgs
    steps: list[Step]
    warnings: list[str]
    rollout_checkpoint: str
    dashboard_address: str
    nodes: int
    gpus_per_node: int
    # the W&B run config file (tracking.RUN_CONFIG_FILE) train.py reads with --custom-config-path; '' when W&B is off
    run_config: str = ""
    cluster: dict = field(default_factory=dict)  # the resolved `cluster` block, as JSON data (sbatch, rayjob)
    paths: dict[str, str] = field(default_factory=dict)  # recipe field -> a path the job reads or writes

    @property
    def train_args(self) -> list[str]:
        """The argv after `python3 train.py` (the JSON contract's train_args)."""
        return self.train.argv

    @property
    def train_arg_groups(self) -> dict[str, list[str]]:
        return self.train.group_argv()

    @property
    def ray_gpus_per_node(self) -> int:
        """What each node's `ray start --num-gpus` declares: cluster.ray.num_gpus, else gpus_per_node."""
        declared = self.cluster.get("ray", {}).get("num_gpus")
        return self.gpus_per_node if declared is None else declared

    def to_dict(self) -> dict:
        """The JSON contract (DESIGN.md): train args as the rendered argv and by group, each step with its argv."""
        return {"recipe": self.recipe, "mode": self.mode, "fingerprint": self.fingerprint, "env": dict(self.env),
                "train_args": self.train_args, "train_arg_groups": self.train_arg_groups,
                "steps": [s.to_dict() for s in self.steps], "warnings": list(self.warnings),
                "rollout_checkpoint": self.rollout_checkpoint, "dashboard_address": self.dashboard_address,
                "nodes": self.nodes, "gpus_per_node": self.gpus_per_node, "run_config": self.run_config,
                "cluster": self.cluster, "paths": dict(self.paths)}

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    @property
    def job(self) -> Job:
        """The submit step (every plan has one)."""
        return next(s for s in self.steps if isinstance(s, Job))


def rollout_checkpoint(r: Recipe) -> str:
    """--hf-checkpoint: the recipe's explicit rollout checkpoint, else the one derived (ckpt_paths)."""
    return derive(r).rollout


def dashboard_address(r: Recipe) -> str:
    """The Job API address: cluster.ray.address, else the head this plan starts."""
    ray = r.cluster.ray
    return ray.address or dashboard_url(ray.head_ip, ray.dashboard_port)


def job_paths(r: Recipe, ck: CheckpointPaths) -> dict[str, str]:
    """Every path train.py reads or writes, by recipe field: what KubeRay pods must find on a mounted volume (the
    preparation steps run before the job, where the checkpoints are)."""
    d = r.data  # launch.working_dir is not here: slime's checkout is part of the image
    saves = r.checkpoints.save_interval is not None  # else train.py gets no --save (train_args)
    paths = {"checkpoints.rollout": ck.rollout, "checkpoints.ref_load": ck.ref_load, "checkpoints.load": ck.load,
             "checkpoints.save": ck.save if saves else None, "data.prompt_data": d.prompt_data}
    paths.update({f"data.eval.datasets.{k}": v for k, v in d.eval.datasets.items()})
    return {k: v for k, v in paths.items() if v}


def build_plan(resolved: Resolved, findings: list[Finding] = ()) -> Plan:
    r = resolved.recipe
    ck = derive(r, resolved.shape.config)
    train = train_args(resolved, ck)
    env = job_env_vars(r)
    run_config = tracking.run_config_text(r)
    before, through_ray = prep_steps.split_by_cluster(prep_steps.steps(resolved, ck))
    steps = [*before, *_ray_steps(r), *through_ray, _submit_step(r, env, train, bool(run_config))]
    return Plan(
        recipe=r.name, mode=r.precision.mode, fingerprint=resolved.fingerprint, env=env, train=train, steps=steps,
        warnings=[f.line() for f in findings if f.severity == "warning"] + prep_steps.warnings(resolved),
        rollout_checkpoint=ck.rollout, dashboard_address=dashboard_address(r),
        nodes=r.cluster.nodes, gpus_per_node=r.cluster.gpus_per_node, run_config=run_config,
        cluster=r.cluster.model_dump(mode="json"), paths=job_paths(r, ck),
    )


def job_env_vars(r: Recipe) -> dict[str, str]:
    """The job's runtime env: launch basics, the mode's env vars, then the recipe's own."""
    env = {
        "PYTHONPATH": ":".join(r.launch.pythonpath),
        "CUDA_DEVICE_MAX_CONNECTIONS": "1",  # Megatron wants 1 with SP / async all-reduce
        "NCCL_NVLS_ENABLE": "1" if r.cluster.nvlink else "0",
    }
    if r.training.deepep or r.parallel.expert > 1:
        env["NVSHMEM_DISABLE_NCCL"] = "1"  # needed by DeepEP (slime docs/en/examples/glm5.2-744B-A40B.md:177)
    if r.cluster.nodes > 1:
        env["no_proxy"] = ",".join(dict.fromkeys(["localhost", LOCAL_HOST, r.cluster.ray.head_ip or LOCAL_HOST]))
    env.update(job_env(mode(r.precision.mode), r.precision.group_size))
    env.update(r.launch.env)
    env.update(tracking.wandb_env(r, env))  # tags and job type: what slime does not pass
    return env


def train_arg_groups(resolved: Resolved) -> dict[str, list[str]]:
    """train.py's argv by group, as the JSON's train_arg_groups shows it."""
    return train_args(resolved).group_argv()


def train_args(resolved: Resolved, ck: CheckpointPaths | None = None) -> TrainArgs:
    r = resolved.recipe
    ck = ck or derive(r, resolved.shape.config)
    c, p, ro, t, o, a, d = (r.cluster, r.parallel, r.rollout, r.training, r.optimizer, r.algorithm, r.data)
    m = mode(r.precision.mode)
    cluster = [_arg("--actor-num-nodes", c.nodes), _arg("--actor-num-gpus-per-node", c.gpus_per_node)]
    cluster += _flag("--colocate", c.colocate) + _opt("--rollout-num-gpus", c.rollout_gpus)
    # slime packs engines assuming 8 GPUs per node unless told (slime/utils/arguments.py:61-69)
    cluster += _opt("--num-gpus-per-node", c.gpus_per_node if c.gpus_per_node != 8 else None)
    ckpt = [_arg("--hf-checkpoint", ck.rollout), _arg("--ref-load", ck.ref_load), _arg("--load", ck.load)]
    # --save goes with --save-interval, which Megatron requires with it (NVIDIA/Megatron-LM@1dcf0daf:megatron/training/
    # arguments.py:836-838); slime saves every N rollouts and after the last (THUDM/slime@624b824a:train.py:71-76)
    if r.checkpoints.save_interval is not None:
        ckpt += [_arg("--save", ck.save), _arg("--save-interval", r.checkpoints.save_interval)]
    rollout = [_arg("--prompt-data", d.prompt_data), _arg("--input-key", d.input_key),
               _arg("--label-key", d.label_key)]
    rollout += _flag("--apply-chat-template", d.apply_chat_template) + _flag("--rollout-shuffle", d.rollout_shuffle)
    rollout += [_arg("--rm-type", d.rm_type), _arg("--num-rollout", ro.num_rollout),
                _arg("--rollout-batch-size", ro.batch_size), _arg("--n-samples-per-prompt", ro.n_samples_per_prompt),
                _arg("--rollout-max-response-len", ro.max_response_len),
                _arg("--rollout-temperature", ro.temperature)]
    rollout += _opt("--over-sampling-batch-size", ro.over_sampling_batch_size)
    rollout += _opt("--dynamic-sampling-filter-path", ro.dynamic_sampling_filter)
    rollout += _opt("--num-steps-per-rollout", ro.num_steps_per_rollout)
    rollout += _opt("--global-batch-size", ro.global_batch_size) + _flag("--balance-data", d.balance_data)
    optimizer = [_arg("--optimizer", o.name), _arg("--lr", o.lr), _arg("--lr-decay-style", o.lr_decay_style),
                 _arg("--weight-decay", o.weight_decay), _arg("--adam-beta1", o.adam_beta1),
                 _arg("--adam-beta2", o.adam_beta2)]
    optimizer += _flag("--optimizer-cpu-offload", o.cpu_offload)
    optimizer += _flag("--overlap-cpu-optimizer-d2h-h2d", o.cpu_offload)
    optimizer += _flag("--use-precision-aware-optimizer",
                       o.precision_aware if o.precision_aware is not None else o.cpu_offload)
    grpo = [_arg("--advantage-estimator", a.advantage_estimator), *_flag("--use-kl-loss", a.use_kl_loss)]
    grpo += [_arg("--kl-loss-coef", a.kl_loss_coef), _arg("--kl-loss-type", a.kl_loss_type),
             _arg("--entropy-coef", a.entropy_coef), _arg("--eps-clip", a.eps_clip)]
    grpo += _opt("--eps-clip-high", a.eps_clip_high) + _flag("--use-tis", a.use_tis)
    perf = [_arg("--tensor-model-parallel-size", p.tensor)]
    perf += _flag("--sequence-parallel", p.sequence_parallel and p.tensor > 1)  # Megatron drops SP at TP=1
    perf += [_arg("--pipeline-model-parallel-size", p.pipeline), _arg("--context-parallel-size", p.context),
             _arg("--expert-model-parallel-size", p.expert), _arg("--expert-tensor-parallel-size", p.expert_tensor)]
    perf += _opt("--decoder-first-pipeline-num-layers", p.decoder_first_pipeline_layers)
    perf += _opt("--decoder-last-pipeline-num-layers", p.decoder_last_pipeline_layers)
    if t.recompute:
        perf += [_arg("--recompute-granularity", "full"), _arg("--recompute-method", "uniform"),
                 _arg("--recompute-num-layers", 1)]
    perf += _flag("--use-dynamic-batch-size", t.dynamic_batch_size)
    perf += [_arg("--max-tokens-per-gpu", t.max_tokens_per_gpu)]
    if t.deepep:
        perf += [Arg("--moe-enable-deepep"), _arg("--moe-token-dispatcher-type", "flex")]
    perf += list(m.train_args) + _flag("--fp8-param-gather", r.precision.fp8_param_gather)
    return TrainArgs.build({
        "cluster": cluster,
        "model": model_flags(resolved.shape, r.model.extra_args),
        "checkpoint": ckpt,
        "rollout": rollout,
        "optimizer": optimizer,
        "algorithm": grpo,
        "wandb": tracking.slime_args(r),  # slime's W&B flags per the tracking convention
        "perf": perf,
        "eval": _eval_args(r),
        "sglang": _sglang_args(r),
        "misc": _misc_args(r),
    })


def _eval_args(r: Recipe) -> list[Arg]:
    e = r.data.eval
    if not e.interval:
        return []
    pairs = tuple(x for name, path in e.datasets.items() for x in (name, path))
    args = [_arg("--eval-interval", e.interval), Arg("--eval-prompt-data", pairs),
            _arg("--n-samples-per-eval-prompt", e.n_samples_per_prompt)]
    return args + _opt("--eval-max-response-len", e.max_response_len) + _opt("--eval-top-p", e.top_p)


def _sglang_args(r: Recipe) -> list[Arg]:
    sg = r.rollout.sglang
    args = [_arg("--rollout-num-gpus-per-engine", r.rollout.gpus_per_engine),
            _arg("--sglang-mem-fraction-static", sg.mem_fraction_static)]
    if sg.cuda_graph_bs:
        args.append(Arg("--sglang-cuda-graph-bs", tuple(map(str, sg.cuda_graph_bs))))
    args += _opt("--sglang-ep-size", sg.expert_parallel_size) + _opt("--sglang-dp-size", sg.data_parallel_size)
    args += _flag("--sglang-enable-dp-attention", sg.enable_dp_attention)
    args += _opt("--sglang-server-concurrency", sg.server_concurrency)
    return args + split_flags(sg.extra_args)


def _misc_args(r: Recipe) -> list[Arg]:
    """slime's MISC group (a flag the model group already emits, like MLA's softmax flag, stays there)."""
    t = r.training
    args = [_arg("--attention-dropout", "0.0"), _arg("--hidden-dropout", "0.0"),
            Arg("--accumulate-allreduce-grads-in-fp32"), Arg("--attention-softmax-in-fp32")]
    args += _opt("--attention-backend", t.attention_backend)
    args += _flag("--no-check-for-nan-in-loss-and-grad", not t.check_for_nan_in_loss_and_grad)
    args += _opt("--update-weight-buffer-size", t.update_weight_buffer_size)
    return args + split_flags(tracking.without_custom_config(r, t.extra_args))  # W&B on: in the run config


def _ray_steps(r: Recipe) -> list[Step]:
    c = r.cluster
    if c.ray.address:
        return []
    head_ip = c.ray.head_ip or LOCAL_HOST
    gpus = c.ray_gpus_per_node
    steps: list[Step] = [RayHead(ip=head_ip, port=c.ray.port, dashboard_port=c.ray.dashboard_port, gpus=gpus,
                                 description="start the Ray head on this node")]
    if c.nodes > 1:
        steps.append(RayWorkers(head_ip=head_ip, port=c.ray.port, gpus=gpus, nodes=c.nodes - 1,
                                description=f"join the cluster from each of the other {c.nodes - 1} nodes"))
    return steps


def _submit_step(r: Recipe, env: dict[str, str], train: TrainArgs, run_config: bool) -> Job:
    """`ray job submit`; with a run config, its directory is the job's working dir (Ray uploads it)."""
    entry = r.launch.entrypoint
    script = entry if posixpath.isabs(entry) else posixpath.join(r.launch.working_dir, entry)
    return Job(address=dashboard_address(r), script=script, train=train, env_vars=env,
               working_dir=tracking.RUN_CONFIG_DIR if run_config else None,
               forward_env=list(r.launch.forward_env),
               description="submit slime's train.py as a Ray job and follow its logs")


def _arg(flag: str, *values: object) -> Arg:
    return Arg(flag, tuple(map(_num, values)))


def _opt(flag: str, value: object) -> list[Arg]:
    return [] if value is None else [_arg(flag, value)]


def _flag(flag: str, on: bool) -> list[Arg]:
    return [Arg(flag)] if on else []


def _num(v: object) -> str:
    return repr(v) if isinstance(v, float) else str(v)
