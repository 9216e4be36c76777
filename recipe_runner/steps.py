"""The plan's steps and train.py's arguments as data, rendered to an argv only at the edge.

A step is a frozen dataclass with the fields its consumers need (a renderer, the launcher, `diff`): they read
those fields and never parse an argv. Each step renders its own command line (`argv`, a property) for whoever
prints or runs it, and `to_dict()` is its JSON form (`{name, argv, env, description, where, forward_env}` plus
its own fields). Consumers dispatch on the step's type (`match step: case RayHead(): ...`); a step type they do
not know is run as its `argv` on the head node.

Train args are ordered groups of `Arg`s (a flag and its values), each flag once: `TrainArgs.build` drops a
repeat with the same values and keeps the last of two that differ (what argparse would use), so no code
rewrites an argv after building it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

W = TypeVar("W")  # a word of an argv: a str, or a renderer's run-time value (render.sh.Ref)

# Ray's defaults (`ray start --head`: GCS on 6379, dashboard / Job API on 8265); the one place the local
# addresses are made. ray-project/ray@ray-2.x:python/ray/_private/ray_constants.py (DEFAULT_PORT,
# DEFAULT_DASHBOARD_PORT).
LOCAL_HOST = "127.0.0.1"
RAY_PORT = 6379
DASHBOARD_PORT = 8265


def host_port(host: str, port: int | str) -> str:
    """host:port, with an IPv6 host in brackets ([fd00::1]:6379, RFC 3986 §3.2.2)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def dashboard_url(host: str | None = None, port: int = DASHBOARD_PORT) -> str:
    """The Ray Job API (dashboard) URL of a head: http://HOST:PORT, HOST defaulting to this machine."""
    return f"http://{host_port(host or LOCAL_HOST, port)}"


DEFAULT_DASHBOARD = dashboard_url()


# ---- train.py's arguments -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    """One flag of train.py and its values (none for a bare flag)."""

    flag: str
    values: tuple[str, ...] = ()

    @property
    def argv(self) -> list[str]:
        return [self.flag, *self.values]


def split_flags(argv: Sequence[str]) -> list[Arg]:
    """A recipe's verbatim extra args (user input, e.g. training.extra_args) as Args: a token starting with
    `--` starts a flag, the tokens after it are its values."""
    out: list[Arg] = []
    for token in argv:
        if token.startswith("--") or not out:
            out.append(Arg(token))
        else:
            out[-1] = Arg(out[-1].flag, (*out[-1].values, token))
    return out


@dataclass(frozen=True)
class TrainArgs:
    """train.py's arguments: ordered, named groups (slime's script sections) of Args, each flag once."""

    groups: tuple[tuple[str, tuple[Arg, ...]], ...] = ()

    @classmethod
    def build(cls, groups: Mapping[str, Iterable[Arg]]) -> TrainArgs:
        """Groups in order; a repeated flag with the same values is dropped (the first stays), a repeated
        flag with other values replaces the earlier one (argparse would use the last one anyway)."""
        placed: dict[str, tuple[str, Arg]] = {}  # flag -> (group, arg), in order of placement
        for name, args in groups.items():
            for arg in args:
                if arg.flag in placed and placed[arg.flag][1].values == arg.values:
                    continue
                placed.pop(arg.flag, None)
                placed[arg.flag] = (name, arg)
        return cls(tuple((name, tuple(a for g, a in placed.values() if g == name)) for name in groups))

    def __iter__(self) -> Iterator[Arg]:
        return (a for _, args in self.groups for a in args)

    @property
    def argv(self) -> list[str]:
        return [w for a in self for w in a.argv]

    def group_argv(self) -> dict[str, list[str]]:
        """Group name -> its rendered argv (the JSON's train_arg_groups)."""
        return {name: [w for a in args for w in a.argv] for name, args in self.groups}

    def flags(self) -> dict[str, tuple[str, ...]]:
        """flag -> its values."""
        return {a.flag: a.values for a in self}


# ---- steps --------------------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Step(ABC):
    """What every step has: a name, a description, where it runs, the env of its command, its argv."""

    name: ClassVar[str]
    description: str = ""
    env: dict[str, str] = field(default_factory=dict)  # env vars of the step's own command (none today)
    where: ClassVar[str] = "head"  # the head node, or "each worker node"
    forward_env: list[str] = field(default_factory=list)  # env vars passed from the caller at run time, by name

    @property
    @abstractmethod
    def argv(self) -> list[str]:
        """The step's command line, as a person or a shell runs it."""

    def fields(self) -> dict:
        """The step's own data for JSON (besides name, argv, env, description, where, forward_env)."""
        return {}

    def to_dict(self) -> dict:
        return {"name": self.name, "argv": self.argv, "env": dict(self.env), "description": self.description,
                "where": self.where, "forward_env": list(self.forward_env), **self.fields()}


# The converter's CLI flag of each conversion parameter (`recipe-runner convert fp8|int4`, quant/commands.py):
# the edge where a Conversion's parameters become command-line syntax.
CONVERTER_FLAGS = {"block_size": "--block-size", "group_size": "--group-size"}


def converter_args(params: Mapping[str, object]) -> list[str]:
    """`--block-size 128 128` / `--group-size 128`: parameters as the converter's command line takes them."""
    out: list[str] = []
    for key, value in params.items():
        out += [CONVERTER_FLAGS[key], *map(str, value if isinstance(value, (list, tuple)) else [value])]
    return out


@dataclass(frozen=True, kw_only=True)
class Conversion(Step):
    """Convert the BF16 checkpoint SRC into the rollout checkpoint DST (the converter's mode `kind`)."""

    name: ClassVar[str] = "convert"
    kind: str  # the converter's mode: "fp8" | "int4" (quant.params' Params.mode)
    src: str
    dst: str
    params: dict[str, object] = field(default_factory=dict)  # quant.params.params_from_json input: block_size...

    @property
    def argv(self) -> list[str]:
        return ["recipe-runner", "convert", self.kind, self.src, self.dst, *converter_args(self.params)]

    def fields(self) -> dict:
        return {"kind": self.kind, "src": self.src, "dst": self.dst, "params": dict(self.params)}


@dataclass(frozen=True, kw_only=True)
class RayHead(Step):
    """`ray start --head` on this node: GCS on `port`, the Job API on `dashboard_port`, `gpus` GPUs declared."""

    name: ClassVar[str] = "ray-head"
    ip: str = LOCAL_HOST
    port: int = RAY_PORT
    dashboard_port: int = DASHBOARD_PORT
    gpus: int

    @property
    def argv(self) -> list[str]:
        return self.start_argv(self.ip)

    def start_argv(self, ip: W) -> list[str | W]:
        """The command with `ip` as the head's address (a renderer's run-time value where the IP is not known)."""
        return ["ray", "start", "--head", "--node-ip-address", ip, "--port", str(self.port), "--num-gpus",
                str(self.gpus), "--disable-usage-stats", "--dashboard-host", "0.0.0.0", "--dashboard-port",
                str(self.dashboard_port)]

    def fields(self) -> dict:
        return {"ip": self.ip, "port": self.port, "dashboard_port": self.dashboard_port, "gpus": self.gpus}


@dataclass(frozen=True, kw_only=True)
class RayWorkers(Step):
    """`ray start --address HEAD:PORT` on each of the other `nodes` nodes, `gpus` GPUs each."""

    name: ClassVar[str] = "ray-workers"
    where: ClassVar[str] = "each worker node"
    head_ip: str
    port: int = RAY_PORT
    gpus: int
    nodes: int  # how many nodes run it (the cluster's nodes but the head)

    @property
    def address(self) -> str:
        return host_port(self.head_ip, self.port)

    @property
    def argv(self) -> list[str]:
        return self.start_argv(self.address)

    def start_argv(self, address: W) -> list[str | W]:
        """The command with `address` as the head's GCS address (a run-time value where it is not known)."""
        return ["ray", "start", "--address", address, "--num-gpus", str(self.gpus), "--disable-usage-stats"]

    def fields(self) -> dict:
        return {"address": self.address, "gpus": self.gpus, "nodes": self.nodes}


@dataclass(frozen=True, kw_only=True)
class Job(Step):
    """`ray job submit` of `python3 SCRIPT TRAIN_ARGS` to the Job API at `address`, with the job's env vars and,
    when set, `working_dir` uploaded as its working directory."""

    name: ClassVar[str] = "submit"
    address: str
    script: str
    train: TrainArgs
    env_vars: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None

    @property
    def command(self) -> list[str]:
        """What Ray runs on the head: the job's entrypoint as an argv."""
        return ["python3", self.script, *self.train.argv]

    @property
    def runtime_env(self) -> dict:
        """Ray's runtime env as `ray job submit --runtime-env-json` takes it (working_dir goes by its own flag)."""
        return {"env_vars": dict(self.env_vars)}

    @property
    def runtime_env_json(self) -> str:
        return json.dumps(self.runtime_env, separators=(",", ":"))

    def submit_argv(self, runtime_env_json: W) -> list[str | W]:
        """`ray job submit ... --` up to the entrypoint, with `runtime_env_json` (a run-time value where the
        forwarded variables are merged in)."""
        argv: list[str | W] = ["ray", "job", "submit", "--address", self.address, "--runtime-env-json",
                               runtime_env_json]
        argv += ["--working-dir", self.working_dir] if self.working_dir else []
        return [*argv, "--"]

    @property
    def argv(self) -> list[str]:
        return [*self.submit_argv(self.runtime_env_json), *self.command]

    def fields(self) -> dict:
        return {"address": self.address, "script": self.script, "working_dir": self.working_dir}
