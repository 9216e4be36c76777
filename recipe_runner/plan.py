"""Recipe -> Plan: the ordered steps, the job's env vars and slime's train.py argv. Pure.

Argument groups and their order follow THUDM/slime@624b824a:scripts/low_precision/*.sh
(MODEL, CKPT, ROLLOUT, OPTIMIZER, GRPO, WANDB, PERF, EVAL, SGLANG, MISC; reference §1.1).
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from recipe_runner import tracking
from recipe_runner.models import bare_flags, model_args
from recipe_runner.precision import conversion_args, converted_dir_name, job_env, mode
from recipe_runner.resolve import Resolved
from recipe_runner.spec import Recipe

if TYPE_CHECKING:  # the checks depend on the plan's facts (checks.checkpoint), not the other way round
    from recipe_runner.checks import Finding


@dataclass(frozen=True)
class Step:
    name: str  # convert | ray-head | ray-workers | submit
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""
    where: str = "head"  # head node, or "each worker node"
    forward_env: list[str] = field(default_factory=list)  # env vars passed from the caller at run time, by name


@dataclass(frozen=True)
class Plan:
    recipe: str
    mode: str
    fingerprint: str
    env: dict[str, str]
    train_args: list[str]
    train_arg_groups: dict[str, list[str]]
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
    def ray_gpus_per_node(self) -> int:
        """What each node's `ray start --num-gpus` declares: cluster.ray.num_gpus, else gpus_per_node."""
        declared = self.cluster.get("ray", {}).get("num_gpus")
        return self.gpus_per_node if declared is None else declared

    def to_dict(self) -> dict:
        return asdict(self)

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)


def rollout_checkpoint(r: Recipe) -> str:
    """--hf-checkpoint: the recipe's explicit rollout checkpoint, else the conversion's output directory."""
    if r.checkpoints.rollout:
        return r.checkpoints.rollout
    m = mode(r.precision.mode)
    src = r.checkpoints.hf.rstrip("/")
    head, base = posixpath.split(src)
    return posixpath.join(head, converted_dir_name(m, base, r.precision.group_size))


def dashboard_address(r: Recipe) -> str:
    ray = r.cluster.ray
    return ray.address or f"http://{host_port(ray.head_ip or '127.0.0.1', ray.dashboard_port)}"


def host_port(host: str, port: int | str) -> str:
    """host:port, with an IPv6 host in brackets ([fd00::1]:6379, RFC 3986 §3.2.2)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def job_paths(r: Recipe) -> dict[str, str]:
    """Every path train.py reads or writes, by recipe field: what KubeRay pods must find on a mounted volume."""
    ck, d = r.checkpoints, r.data  # launch.working_dir is not here: slime's checkout is part of the image
    paths = {"checkpoints.rollout": rollout_checkpoint(r), "checkpoints.ref_load": ck.ref_load,
             "checkpoints.load": ck.load, "checkpoints.save": ck.save, "data.prompt_data": d.prompt_data}
    paths.update({f"data.eval.datasets.{k}": v for k, v in d.eval.datasets.items()})
    return {k: v for k, v in paths.items() if v}


def build_plan(resolved: Resolved, findings: list[Finding] = ()) -> Plan:
    r = resolved.recipe
    groups = train_arg_groups(resolved)
    train_args = [a for g in groups.values() for a in g]
    env = job_env_vars(r)
    run_config = tracking.run_config_text(r)
    steps = [*_convert_steps(r), *_ray_steps(r), _submit_step(r, env, train_args, bool(run_config))]
    return Plan(
        recipe=r.name, mode=r.precision.mode, fingerprint=resolved.fingerprint, env=env,
        train_args=train_args, train_arg_groups=groups, steps=steps,
        warnings=[f.line() for f in findings if f.severity == "warning"],
        rollout_checkpoint=rollout_checkpoint(r), dashboard_address=dashboard_address(r),
        nodes=r.cluster.nodes, gpus_per_node=r.cluster.gpus_per_node, run_config=run_config,
        cluster=r.cluster.model_dump(mode="json"), paths=job_paths(r),
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
        env["no_proxy"] = ",".join(dict.fromkeys(["localhost", "127.0.0.1", r.cluster.ray.head_ip or "127.0.0.1"]))
    env.update(job_env(mode(r.precision.mode), r.precision.group_size))
    env.update(r.launch.env)
    env.update(tracking.wandb_env(r, env))  # tags and job type: what slime does not pass
    return env


def train_arg_groups(resolved: Resolved) -> dict[str, list[str]]:
    r = resolved.recipe
    c, p, ro, t, o, a, d, ck = (r.cluster, r.parallel, r.rollout, r.training, r.optimizer, r.algorithm, r.data,
                                r.checkpoints)
    m = mode(r.precision.mode)
    cluster = ["--actor-num-nodes", str(c.nodes), "--actor-num-gpus-per-node", str(c.gpus_per_node)]
    cluster += _flag("--colocate", c.colocate) + _opt("--rollout-num-gpus", c.rollout_gpus)
    # slime packs engines assuming 8 GPUs per node unless told (slime/utils/arguments.py:61-69)
    cluster += _opt("--num-gpus-per-node", c.gpus_per_node if c.gpus_per_node != 8 else None)
    ckpt = ["--hf-checkpoint", rollout_checkpoint(r), "--ref-load", ck.ref_load]
    ckpt += _opt("--load", ck.load) + _opt("--save", ck.save) + _opt("--save-interval", ck.save_interval)
    rollout = ["--prompt-data", d.prompt_data, "--input-key", d.input_key, "--label-key", d.label_key]
    rollout += _flag("--apply-chat-template", d.apply_chat_template) + _flag("--rollout-shuffle", d.rollout_shuffle)
    rollout += ["--rm-type", d.rm_type, "--num-rollout", str(ro.num_rollout), "--rollout-batch-size",
                str(ro.batch_size), "--n-samples-per-prompt", str(ro.n_samples_per_prompt),
                "--rollout-max-response-len", str(ro.max_response_len), "--rollout-temperature", _num(ro.temperature)]
    rollout += _opt("--over-sampling-batch-size", ro.over_sampling_batch_size)
    rollout += _opt("--dynamic-sampling-filter-path", ro.dynamic_sampling_filter)
    rollout += _opt("--num-steps-per-rollout", ro.num_steps_per_rollout)
    rollout += _opt("--global-batch-size", ro.global_batch_size) + _flag("--balance-data", d.balance_data)
    optimizer = ["--optimizer", o.name, "--lr", _num(o.lr), "--lr-decay-style", o.lr_decay_style,
                 "--weight-decay", _num(o.weight_decay), "--adam-beta1", _num(o.adam_beta1),
                 "--adam-beta2", _num(o.adam_beta2)]
    optimizer += _flag("--optimizer-cpu-offload", o.cpu_offload)
    optimizer += _flag("--overlap-cpu-optimizer-d2h-h2d", o.cpu_offload)
    optimizer += _flag("--use-precision-aware-optimizer",
                       o.precision_aware if o.precision_aware is not None else o.cpu_offload)
    grpo = ["--advantage-estimator", a.advantage_estimator] + _flag("--use-kl-loss", a.use_kl_loss)
    grpo += ["--kl-loss-coef", _num(a.kl_loss_coef), "--kl-loss-type", a.kl_loss_type,
             "--entropy-coef", _num(a.entropy_coef), "--eps-clip", _num(a.eps_clip)]
    grpo += _opt("--eps-clip-high", a.eps_clip_high) + _flag("--use-tis", a.use_tis)
    perf = ["--tensor-model-parallel-size", str(p.tensor)]
    perf += _flag("--sequence-parallel", p.sequence_parallel and p.tensor > 1)  # Megatron drops SP at TP=1
    perf += ["--pipeline-model-parallel-size", str(p.pipeline), "--context-parallel-size", str(p.context),
             "--expert-model-parallel-size", str(p.expert), "--expert-tensor-parallel-size", str(p.expert_tensor)]
    perf += _opt("--decoder-first-pipeline-num-layers", p.decoder_first_pipeline_layers)
    perf += _opt("--decoder-last-pipeline-num-layers", p.decoder_last_pipeline_layers)
    if t.recompute:
        perf += ["--recompute-granularity", "full", "--recompute-method", "uniform", "--recompute-num-layers", "1"]
    perf += _flag("--use-dynamic-batch-size", t.dynamic_batch_size) + ["--max-tokens-per-gpu",
                                                                        str(t.max_tokens_per_gpu)]
    if t.deepep:
        perf += ["--moe-enable-deepep", "--moe-token-dispatcher-type", "flex"]
    perf += list(m.train_args) + _flag("--fp8-param-gather", r.precision.fp8_param_gather)
    groups = {
        "cluster": cluster,
        "model": model_args(resolved.shape, r.model.extra_args),
        "checkpoint": ckpt,
        "rollout": rollout,
        "optimizer": optimizer,
        "algorithm": grpo,
        "wandb": _wandb_args(r),
        "perf": perf,
        "eval": _eval_args(r),
        "sglang": _sglang_args(r),
        "misc": _misc_args(r, bare_flags(resolved.shape)),
    }
    return groups


def _wandb_args(r: Recipe) -> list[str]:
    """slime's W&B flags per the tracking convention (tracking.py); the key is never an argument."""
    return tracking.slime_args(r)


def _eval_args(r: Recipe) -> list[str]:
    e = r.data.eval
    if not e.interval:
        return []
    pairs = [x for name, path in e.datasets.items() for x in (name, path)]
    args = ["--eval-interval", str(e.interval), "--eval-prompt-data", *pairs,
            "--n-samples-per-eval-prompt", str(e.n_samples_per_prompt)]
    return args + _opt("--eval-max-response-len", e.max_response_len) + _opt("--eval-top-p", e.top_p)


def _sglang_args(r: Recipe) -> list[str]:
    sg = r.rollout.sglang
    args = ["--rollout-num-gpus-per-engine", str(r.rollout.gpus_per_engine),
            "--sglang-mem-fraction-static", _num(sg.mem_fraction_static)]
    if sg.cuda_graph_bs:
        args += ["--sglang-cuda-graph-bs", *map(str, sg.cuda_graph_bs)]
    args += _opt("--sglang-ep-size", sg.expert_parallel_size) + _opt("--sglang-dp-size", sg.data_parallel_size)
    args += _flag("--sglang-enable-dp-attention", sg.enable_dp_attention)
    args += _opt("--sglang-server-concurrency", sg.server_concurrency)
    return args + list(sg.extra_args)


def _misc_args(r: Recipe, model_flags: frozenset[str]) -> list[str]:
    """slime's MISC group; a bare flag the model group already emits (MLA's softmax flag) is not repeated."""
    t = r.training
    args = ["--attention-dropout", "0.0", "--hidden-dropout", "0.0"]
    args += [f for f in ("--accumulate-allreduce-grads-in-fp32", "--attention-softmax-in-fp32")
             if f not in model_flags]
    args += _opt("--attention-backend", t.attention_backend)
    args += _flag("--no-check-for-nan-in-loss-and-grad", not t.check_for_nan_in_loss_and_grad)
    args += _opt("--update-weight-buffer-size", t.update_weight_buffer_size)
    return args + tracking.without_custom_config(r, t.extra_args)  # W&B on: merged into the run config


def _convert_steps(r: Recipe) -> list[Step]:
    m = mode(r.precision.mode)
    if m.conversion is None or r.checkpoints.rollout:
        return []
    dst = rollout_checkpoint(r)
    argv = ["recipe-runner", "convert", m.conversion, r.checkpoints.hf, dst,
            *conversion_args(m, r.precision.group_size)]
    return [Step("convert", argv, description=f"convert the BF16 checkpoint to the {m.rollout_format} rollout "
                 "checkpoint (skipped when DST already holds this conversion)")]


def _ray_steps(r: Recipe) -> list[Step]:
    c = r.cluster
    if c.ray.address:
        return []
    head_ip = c.ray.head_ip or "127.0.0.1"
    num_gpus = str(c.gpus_per_node if c.ray.num_gpus is None else c.ray.num_gpus)
    steps = [Step("ray-head", ["ray", "start", "--head", "--node-ip-address", head_ip, "--port", str(c.ray.port),
                               "--num-gpus", num_gpus, "--disable-usage-stats",
                               "--dashboard-host", "0.0.0.0", "--dashboard-port", str(c.ray.dashboard_port)],
                  description="start the Ray head on this node")]
    if c.nodes > 1:
        steps.append(Step("ray-workers", ["ray", "start", "--address", host_port(head_ip, c.ray.port),
                                          "--num-gpus", num_gpus, "--disable-usage-stats"],
                          description=f"join the cluster from each of the other {c.nodes - 1} nodes",
                          where="each worker node"))
    return steps


def _submit_step(r: Recipe, env: dict[str, str], train_args: list[str], run_config: bool) -> Step:
    """`ray job submit`; with a run config, its directory is the job's working dir (Ray uploads it)."""
    entry = r.launch.entrypoint
    script = entry if posixpath.isabs(entry) else posixpath.join(r.launch.working_dir, entry)
    runtime_env = json.dumps({"env_vars": env}, separators=(",", ":"))
    argv = ["ray", "job", "submit", "--address", dashboard_address(r), "--runtime-env-json", runtime_env]
    argv += ["--working-dir", tracking.RUN_CONFIG_DIR] if run_config else []
    argv += ["--", "python3", script, *train_args]
    return Step("submit", argv, description="submit slime's train.py as a Ray job and follow its logs",
                forward_env=list(r.launch.forward_env))


def _opt(flag: str, value: object) -> list[str]:
    return [] if value is None else [flag, _num(value) if isinstance(value, float) else str(value)]


def _flag(flag: str, on: bool) -> list[str]:
    return [flag] if on else []


def _num(v: float | int) -> str:
    return repr(v) if isinstance(v, float) else str(v)
