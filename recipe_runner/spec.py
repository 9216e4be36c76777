"""The recipe schema: pydantic models with extra="forbid", so every key a user writes is known.

Field descriptions end up in `schemas/recipe.schema.json`, which editors use to autocomplete recipes.
Defaults are slime's own defaults (THUDM/slime@624b824a:slime/utils/arguments.py) unless noted.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PositiveInt,
    field_validator,
    model_validator,
)

from recipe_runner.hardware import GPUS, canonical_gpu
from recipe_runner.precision import MODES
from recipe_runner.steps import DASHBOARD_PORT, RAY_PORT

ModeName = Literal[tuple(MODES)]  # type: ignore[valid-type]
GpuName = Annotated[Literal[tuple(GPUS)], BeforeValidator(canonical_gpu)]  # type: ignore[valid-type]


# Names that become file names, directory names, job names and W&B names: a slug, never a path.
SLUG = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
Slug = Annotated[str, Field(pattern=SLUG, description="letters, digits, '.', '_', '-'; starts alphanumeric")]
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
EnvName = Annotated[str, Field(pattern=ENV_NAME)]
NonEmpty = Annotated[str, Field(min_length=1)]
NOT_A_FLAG = r"^[^-]"
# Linux's NAME_MAX and PATH_MAX (bytes, <linux/limits.h>): a longer path cannot exist, and stat-ing it raises
# ENAMETOOLONG, so it is refused here, naming the field, instead of in the first check that looks at the disk
NAME_MAX, PATH_MAX = 255, 4096


def _fs_path(value: str) -> str:
    """A path the file system can hold: no NUL byte, each part at most NAME_MAX bytes, the whole under PATH_MAX."""
    if "\0" in value:
        raise ValueError("contains a NUL byte, which no file path can hold")
    if len(value.encode()) >= PATH_MAX:
        raise ValueError(f"is {len(value.encode())} bytes long; a path must be under {PATH_MAX} (PATH_MAX)")
    long = next((part for part in value.split("/") if len(part.encode()) > NAME_MAX), None)
    if long is not None:
        raise ValueError(f"has a part of {len(long.encode())} bytes ({long[:20]}...); a file or directory name is at "
                         f"most {NAME_MAX} (NAME_MAX)")
    return value


# SRC and DST of the convert step are positional arguments: a path starting with '-' would be read as a flag
CheckpointPath = Annotated[str, Field(pattern=NOT_A_FLAG), AfterValidator(_fs_path)]
# The checkpoint formats a Hugging Face release comes in (formats: bf16, fp8-block 128x128, int4-pack)
SourceFormat = Literal["bf16", "fp8-block", "int4-pack"]
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                       r"[A-Za-z0-9])?)*\.?\Z")


def _host(value: str) -> str:
    """An IPv4/IPv6 address or an RFC 1123 host name."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if not _HOSTNAME.match(value):
        raise ValueError("must be an IP address or a host name (letters, digits, '-', '.')")
    return value


def _dashboard_url(value: str) -> str:
    """`http(s)://HOST[:PORT]` or `HOST:PORT`: the Ray Job API address, nothing else."""
    parts = urlsplit(value if "://" in value else f"http://{value}")
    try:
        port = parts.port
    except ValueError:
        port = -1
    if (parts.scheme not in ("http", "https") or not parts.hostname or port == -1 or parts.path not in ("", "/")
            or parts.query or parts.fragment or parts.username or parts.password):
        raise ValueError("must be http(s)://HOST[:PORT], e.g. http://10.0.0.1:8265")
    _host(parts.hostname)
    return value


Host = Annotated[str, AfterValidator(_host)]
DashboardUrl = Annotated[str, AfterValidator(_dashboard_url)]


class Strict(BaseModel):
    # inf/nan are refused in every float: no real run takes them (optimizer.lr=inf)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        """Every string becomes an argv element or an env var, and neither can hold a NUL character."""
        if _has_nul(value):
            raise ValueError("NUL characters are not allowed (every value becomes a command-line argument)")
        return value


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(map(_has_nul, value))
    return False


class Model(Strict):
    """The model: a Hugging Face config.json from which the Megatron model args are derived."""

    name: Slug = Field(description="Short model name used in derived paths and W&B tags, e.g. Qwen3-30B-A3B.")
    config: NonEmpty = Field(
        description="A bundled config name (a file stem in recipe_runner/data/model-configs/, e.g. qwen3-4b, "
        "glm5-744b-a40b) or a path to a config.json or to a checkpoint directory holding one."
    )
    config_overrides: dict[str, object] = Field(
        default_factory=dict,
        description="Fields laid over the loaded config.json (for configs known to be incomplete).",
    )
    extra_args: list[str] = Field(
        default_factory=list,
        description="Megatron model flags that cannot be derived from config.json (e.g. MLA --kv-channels).",
    )
    source_format: SourceFormat | None = Field(
        None, description="The format the model is published in, for a config.json that does not say (a partial "
        "copy). Default: from the quantization_config of model.config (none: bf16).")


class Precision(Strict):
    """The precision mode drives the rollout checkpoint, the conversion, training flags and env vars."""

    mode: ModeName = Field(description="bf16 | fp8-rollout | fp8-full | int4-qat | int4-rollout")
    group_size: Literal[32, 64, 128] = Field(
        128, description="INT4 quantization group size along the input dim (SGLang Marlin takes 32/64/128)."
    )
    fp8_param_gather: bool = Field(
        False, description="fp8-full only: --fp8-param-gather (incompatible with CPU optimizer offload)."
    )


class Ray(Strict):
    address: DashboardUrl | None = Field(
        None, description="Dashboard address of an existing Ray cluster (http://host:8265); none = start one."
    )
    head_ip: Host | None = Field(
        None, description="IP of the head node; default 127.0.0.1 (one node). Set it for multi-node plans."
    )
    port: int = Field(RAY_PORT, ge=1, le=65535, description="Ray GCS port on the head node.")
    dashboard_port: int = Field(DASHBOARD_PORT, ge=1, le=65535)
    num_gpus: int | None = Field(
        None, ge=0, le=16, description="GPUs each node gives Ray (ray start --num-gpus); default: gpus_per_node. "
        "0 is a CPU-only test cluster: pre-flight then checks only the entrypoint, not GPUs or the GPU stack."
    )
    version: str | None = Field(
        None, pattern=r"^\d+\.\d+\.\d+$",
        description="The Ray version in cluster.kuberay.image (RayJob rayClusterSpec.rayVersion), e.g. 2.49.0.",
    )
    ready_timeout_s: int = Field(
        600, ge=1, description="How long the shell and sbatch scripts wait for every node and GPU to join Ray "
        "before they fail (seconds).",
    )


DNS_LABEL = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"


class Nfs(Strict):
    server: Host = Field(description="NFS server host name or IP.")
    path: str = Field(pattern=r"^/", description="Exported path on the server.")


class Volume(Strict):
    """One volume every RayJob pod mounts: exactly one of pvc, host_path, nfs."""

    name: str = Field(pattern=DNS_LABEL, description="Volume name in the pod (a DNS-1123 label).")
    mount_path: str = Field(pattern=r"^/", description="Where the pods see it; job paths must lie under a mount.")
    pvc: str | None = Field(None, description="A PersistentVolumeClaim's name (ReadWriteMany for multi-node).")
    host_path: str | None = Field(None, pattern=r"^/", description="A directory on every Kubernetes node.")
    nfs: Nfs | None = None
    read_only: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> Volume:
        if sum(x is not None for x in (self.pvc, self.host_path, self.nfs)) != 1:
            raise ValueError(f"volume {self.name!r}: set exactly one of pvc, host_path, nfs")
        return self


class Storage(Strict):
    """Storage the KubeRay pods mount: checkpoints, data and --save must outlive the pods."""

    volumes: list[Volume] = Field(default_factory=list)


class KubeRay(Strict):
    """What a RayJob needs besides the plan (render format `rayjob`)."""

    image: str | None = Field(None, description="Container image with a pinned tag or digest (not :latest), "
                              "e.g. one built from slime's docker/Dockerfile.")
    cpus: int | None = Field(None, ge=1, description="CPU request and limit of each pod (Ray derives num-cpus).")
    memory: str | None = Field(None, pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$",
                               description="Memory request and limit of each pod, a Kubernetes quantity (1600Gi).")
    ttl_seconds_after_finished: int = Field(
        86400, ge=1, description="How long KubeRay keeps the Ray cluster after the job ends (for logs)."
    )


class Cluster(Strict):
    """Where the job runs. Training and rollout GPUs are counted per the slime placement rules."""

    name: Slug = Field("local", description="A label for the cluster profile.")
    nodes: int = Field(1, ge=1, le=1024, description="Number of nodes (--actor-num-nodes).")
    gpus_per_node: int = Field(8, ge=1, le=16, description="GPUs per node (--actor-num-gpus-per-node).")
    gpu: GpuName = Field("H200", description="GPU kind, from the hardware table.")
    colocate: bool = Field(True, description="Training and rollout share GPUs (--colocate).")
    rollout_gpus: int | None = Field(
        None, ge=0, description="--rollout-num-gpus; default: all actor GPUs when colocated."
    )
    nvlink: bool = Field(True, description="Sets NCCL_NVLS_ENABLE in the job env (some clusters need false).")
    ray: Ray = Field(default_factory=Ray)
    time_limit_minutes: int = Field(
        1440, ge=1, description="Wall-clock limit of the job: sbatch --time, RayJob activeDeadlineSeconds."
    )
    storage: Storage = Field(default_factory=Storage)
    kuberay: KubeRay = Field(default_factory=KubeRay)

    @property
    def ray_gpus_per_node(self) -> int:
        """What each node's `ray start --num-gpus` declares: ray.num_gpus, else gpus_per_node."""
        return self.gpus_per_node if self.ray.num_gpus is None else self.ray.num_gpus


class Parallel(Strict):
    """Megatron training parallelism."""

    tensor: int = Field(1, ge=1, description="--tensor-model-parallel-size")
    pipeline: int = Field(1, ge=1, description="--pipeline-model-parallel-size")
    context: int = Field(1, ge=1, description="--context-parallel-size")
    expert: int = Field(1, ge=1, description="--expert-model-parallel-size")
    expert_tensor: int = Field(1, ge=1, description="--expert-tensor-parallel-size (always emitted)")
    sequence_parallel: bool = Field(True, description="--sequence-parallel (Megatron drops it at TP=1)")
    decoder_first_pipeline_layers: int | None = Field(None, ge=1)
    decoder_last_pipeline_layers: int | None = Field(None, ge=1)


class SGLang(Strict):
    mem_fraction_static: float = Field(0.7, gt=0, lt=1, description="--sglang-mem-fraction-static")
    expert_parallel_size: int | None = Field(None, ge=1, description="--sglang-ep-size")
    data_parallel_size: int | None = Field(None, ge=1, description="--sglang-dp-size")
    enable_dp_attention: bool = Field(False, description="--sglang-enable-dp-attention")
    cuda_graph_bs: list[PositiveInt] = Field(default_factory=list, description="--sglang-cuda-graph-bs")
    server_concurrency: int | None = Field(None, ge=1, description="--sglang-server-concurrency")
    extra_args: list[str] = Field(default_factory=list, description="More --sglang-* flags, verbatim.")


class Rollout(Strict):
    gpus_per_engine: int = Field(1, ge=1, description="--rollout-num-gpus-per-engine (SGLang TP size)")
    batch_size: int = Field(description="--rollout-batch-size: prompts per rollout", ge=1)
    n_samples_per_prompt: int = Field(8, ge=1)
    over_sampling_batch_size: int | None = Field(None, ge=1)
    dynamic_sampling_filter: str | None = Field(None, description="--dynamic-sampling-filter-path")
    num_rollout: int = Field(description="--num-rollout", ge=1)
    num_steps_per_rollout: int | None = Field(None, ge=1)
    global_batch_size: int | None = Field(None, ge=1, description="samples per optimizer step")
    max_response_len: int = Field(8192, ge=1)
    temperature: float = Field(1.0, gt=0, description="--rollout-temperature (must be > 0)")
    sglang: SGLang = Field(default_factory=SGLang)


class Training(Strict):
    max_tokens_per_gpu: int = Field(ge=1, description="--max-tokens-per-gpu")
    dynamic_batch_size: bool = Field(True, description="--use-dynamic-batch-size")
    recompute: bool = Field(True, description="full uniform recompute, 1 layer")
    deepep: bool = Field(False, description="--moe-enable-deepep --moe-token-dispatcher-type flex")
    attention_backend: Literal["flash", "fused", "unfused", "local", "auto"] | None = Field(
        "flash", description="--attention-backend; slime's MLA scripts leave it unset"
    )
    check_for_nan_in_loss_and_grad: bool = True
    update_weight_buffer_size: int | None = Field(None, ge=1, description="bytes; slime default 512 MiB")
    extra_args: list[str] = Field(default_factory=list, description="More train.py flags, verbatim.")


class Optimizer(Strict):
    name: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-6, gt=0)
    lr_decay_style: Literal["constant", "linear", "cosine"] = "constant"
    weight_decay: float = Field(0.1, ge=0)
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.98, ge=0, lt=1)
    cpu_offload: bool = Field(False, description="--optimizer-cpu-offload --overlap-cpu-optimizer-d2h-h2d")
    precision_aware: bool | None = Field(
        None, description="--use-precision-aware-optimizer; default: on when cpu_offload (Megatron needs it)"
    )


class Algorithm(Strict):
    advantage_estimator: Literal["grpo", "gspo", "cispo", "reinforce_plus_plus",
                                 "reinforce_plus_plus_baseline", "ppo"] = "grpo"
    use_kl_loss: bool = True
    kl_loss_coef: float = Field(0.0, ge=0)
    kl_loss_type: Literal["k1", "k2", "k3", "low_var_kl"] = "low_var_kl"
    entropy_coef: float = Field(0.0, ge=0)
    eps_clip: float = Field(0.2, gt=0)
    eps_clip_high: float | None = Field(0.28, gt=0)
    use_tis: bool = Field(False, description="Truncated importance sampling (train/rollout mismatch)")


class Eval(Strict):
    interval: int | None = Field(None, ge=1)
    datasets: dict[Slug, NonEmpty] = Field(default_factory=dict, description="name -> jsonl path")
    n_samples_per_prompt: int = Field(1, ge=1)
    max_response_len: int | None = Field(None, ge=1)
    top_p: float | None = Field(None, gt=0, le=1)


class Data(Strict):
    prompt_data: NonEmpty = Field(description="--prompt-data (jsonl)")
    input_key: NonEmpty = "prompt"
    label_key: NonEmpty = "label"
    apply_chat_template: bool = True
    rollout_shuffle: bool = True
    balance_data: bool = True
    rm_type: NonEmpty = Field("math", description="--rm-type (math, deepscaler, ...)")
    eval: Eval = Field(default_factory=Eval)


class Checkpoints(Strict):
    """Every checkpoint of a run. Only `hf` is required; the rest derive from it (recipe_runner/ckpt_paths.py),
    and `recipe-runner explain RECIPE checkpoints.X` says where each value came from."""

    hf: CheckpointPath = Field(description="The Hugging Face checkpoint as downloaded: BF16, or a block-FP8 or INT4 "
                               "pack-quantized release (DeepSeek-V3, Kimi-K2-Instruct, Kimi-K2-Thinking). The plan "
                               "prepares every other checkpoint from it.")
    hf_format: SourceFormat | None = Field(
        None, description="What checkpoints.hf holds: bf16 | fp8-block | int4-pack. Default: read from its "
        "config.json when it is on this machine, else the model's published format (model.source_format, or the "
        "quantization_config of model.config).")
    bf16: CheckpointPath | None = Field(
        None, description="BF16 Hugging Face checkpoint, the source of the torch_dist and rollout conversions. "
        "Default: hf when hf is BF16, else <hf>-bf16 (written by the dequant-bf16 step); a given one is used as "
        "it is (no dequant-bf16 step).")
    torch_dist: CheckpointPath | None = Field(
        None, description="Megatron torch_dist checkpoint made from bf16 by slime's converter (the torch-dist "
        "step) with the run's own model args. Default: ref_load when set, else <hf>_torch_dist.")
    torch_dist_nodes: int | None = Field(
        None, ge=1, le=32, description="Nodes the torch-dist step runs slime's converter on (torchrun on each, "
        "cluster.gpus_per_node processes per node). Default: the fewest of cluster.nodes whose GPUs hold the BF16 "
        "weights (recipe_runner/torch_dist.py).")
    rollout: CheckpointPath | None = Field(
        None, description="Checkpoint SGLang loads (--hf-checkpoint). Default: hf when it already is in the "
        "mode's rollout format, else the rollout conversion's output <bf16>-FP8 / <bf16>-INT4-g<G>; set it to an "
        "already converted checkpoint to skip the conversion.")
    ref_load: CheckpointPath | None = Field(None, description="--ref-load (the reference model). Default: "
                                            "torch_dist.")
    load: CheckpointPath | None = Field(None, description="--load: where training resumes from (slime starts from "
                             "--ref-load while it holds no checkpoint). Default: save.")
    save: CheckpointPath | None = Field(None, description="--save: where training writes its torch_dist checkpoints "
                             "(`recipe-runner export` reads them back). Default: <hf>_slime/<recipe name>-"
                             "<fingerprint[:8]>, one directory per plan: the same plan run again resumes, another "
                             "recipe or override set starts afresh.")
    save_interval: int | None = Field(20, ge=1, description="--save-interval: save every N rollouts and after "
                                      "the last (20 as in slime's scripts). null: training saves no checkpoint "
                                      "(the plan passes no --save: Megatron requires --save-interval with it).")


class Wandb(Strict):
    enabled: bool = False
    project: Slug | None = None
    group: Slug | None = Field(None, description="Also the run's name (slime names a run after its group). Default: "
                               "{recipe}-{mode}-{fingerprint[:8]}, one per run")
    team: Slug | None = None
    mode: Literal["online", "offline", "disabled"] = "online"
    dir: str | None = None
    sweep: Slug | None = Field(None, description="The sweep this run belongs to (set by `recipe-runner sweep`): "
                              "config.recipe_runner.sweep and the tag sweep:<id>")


class Stability(Strict):
    """When `compare --baseline` flags a run (recipe_runner/stability.py; defaults in docs/tracking.md)."""

    window: int = Field(20, ge=2, description="Last N common steps the reward gap and mismatch trend are taken over.")
    reward_gap: float = Field(0.05, ge=0, description="Mean reward shortfall vs the baseline (absolute) that flags "
                              "a run.")
    mismatch_growth: float = Field(2.0, gt=1, description="Growth of train/train_rollout_logprob_abs_diff over the "
                                   "window that flags a run (2 = doubling).")


class Tracking(Strict):
    stability: Stability = Field(default_factory=Stability)


class Launch(Strict):
    entrypoint: NonEmpty = Field("train.py", description="slime's train.py, relative to working_dir")
    working_dir: NonEmpty = Field("/root/slime", description="Where the job runs (slime checkout)")
    pythonpath: list[str] = Field(default_factory=lambda: ["/root/Megatron-LM/"])
    env: dict[EnvName, str] = Field(
        default_factory=dict, description="Extra job env vars, written into every rendering; never a secret "
        "(docs/security.md): name secrets in forward_env")
    forward_env: list[EnvName] = Field(
        default_factory=list, description="Env vars (secrets such as WANDB_API_KEY) the job gets from the "
        "environment of whoever launches it, by name: the launcher and the scripts pass them at submit time, "
        "the rayjob from a Kubernetes Secret; no value is written anywhere")

    @model_validator(mode="after")
    def _forwarded_once(self) -> Launch:
        both = sorted(set(self.env) & set(self.forward_env))
        if both or len(set(self.forward_env)) != len(self.forward_env):
            raise ValueError(f"forward_env names each variable once and none that env sets ({', '.join(both)})")
        return self


class Recipe(Strict):
    """A resolved experiment recipe."""

    name: Slug = Field(description="The recipe's name; it names bundles, jobs and W&B runs")
    description: str = ""
    maturity: Literal["upstream", "tested", "experimental"] = "experimental"
    model: Model
    precision: Precision
    cluster: Cluster = Field(default_factory=Cluster)
    parallel: Parallel = Field(default_factory=Parallel)
    rollout: Rollout
    training: Training
    optimizer: Optimizer = Field(default_factory=Optimizer)
    algorithm: Algorithm = Field(default_factory=Algorithm)
    data: Data
    checkpoints: Checkpoints
    wandb: Wandb = Field(default_factory=Wandb)
    tracking: Tracking = Field(default_factory=Tracking)
    launch: Launch = Field(default_factory=Launch)
