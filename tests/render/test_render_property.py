"""Hostile strings in every string field, every format rendered: scripts run exactly the plan's argv.

Hypothesis picks a field of the schema and a hostile value (line breaks, quotes, `$(pwned)`, backticks,
NUL, unicode line separators, YAML document markers, very long). A value the schema refuses must be a
UserError (exit 2); a value it accepts must render safely: shell and sbatch pass `bash -n` and, run by
bash with stubs on PATH, call exactly the plan's steps; the rayjob is one YAML document carrying the
plan; plan.json is the plan; the bundle re-plans to the same fingerprint.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import tempfile
import typing
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from recipe_runner.bundle import write_bundle
from recipe_runner.checks import run_checks
from recipe_runner.compose import compose
from recipe_runner.errors import UserError
from recipe_runner.models import load_config, shape_of
from recipe_runner.plan import Plan, build_plan
from recipe_runner.printable import one_line
from recipe_runner.render import render, sh
from recipe_runner.resolve import Resolved, resolve, validate_dict
from recipe_runner.spec import Recipe
from tests.hardening import stubs
from tests.launch.kube import KUBE

BASE = ("qwen3-30b-a3b-int4", ["cluster.nodes=2", "cluster.ray.head_ip=10.0.0.1", "wandb.project=p",
                               "+launch.forward_env=[WANDB_API_KEY]", *KUBE])
FORWARDED = {"WANDB_API_KEY": "forwarded-value-0123456789"}
HOSTILE = ["a\nb", "x\n$(pwned)", "`pwned`", "'; pwned; '", '"; pwned; "', "$(pwned)", "${HOME}", "\\", "\r",
           "--- \nkind: Pod", "...\n---\nkind: Pod", "# c\npwned", "a\u2028pwned", "a\x85b", "\0", "\x1b[31m",
           "ünï©ødé ✓", "x" * 5000 + "\n$(pwned)", "-e", "--colocate", "${oc.env:HOME}", "\\${x}", "*", "~", " "]
hostile = st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=40),
                    st.text(alphabet=st.sampled_from("\n\r\t\0'\"`$(){};|&<>#\\ -:*?![]"), min_size=1, max_size=20))


def string_fields(model: type[BaseModel] = Recipe, prefix: tuple = ()) -> list[tuple[tuple, str]]:
    """(path, kind) of every string in the schema: kind is str, list (an item) or dict-key / dict-value."""
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        args = [a for a in typing.get_args(ann) if a is not type(None)] if typing.get_origin(ann) else []
        if typing.get_origin(ann) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            ann = args[0] if len(args) == 1 else ann
        origin, base = typing.get_origin(ann), typing.get_origin(ann) or ann
        path = (*prefix, name)
        if isinstance(base, type) and issubclass(base, BaseModel):
            out += string_fields(base, path)
        elif origin is list and _is_str(typing.get_args(ann)[0]):
            out.append((path, "list"))
        elif origin is dict:
            out += [(path, "dict-key"), (path, "dict-value")]
        elif _is_str(ann):
            out.append((path, "str"))
    return out


def _is_str(ann: object) -> bool:
    return ann is str or typing.get_origin(ann) is typing.Annotated and typing.get_args(ann)[0] is str


FIELDS = string_fields()


@cache
def base_data() -> dict:
    return compose(*BASE)


@cache
def base_plan() -> Plan:
    return build_plan(resolve(*BASE))


def with_value(path: tuple, kind: str, value: str) -> dict:
    data = json.loads(json.dumps(base_data()))
    node = data
    for part in path[:-1]:
        node = node.setdefault(part, {})
    leaf = path[-1]
    if kind == "list":
        node[leaf] = [*(node.get(leaf) or []), value]
    elif kind == "dict-key":
        node[leaf] = {**(node.get(leaf) or {}), value: "v"}
    elif kind == "dict-value":
        node[leaf] = {**(node.get(leaf) or {}), "K" if path[-1] == "env" else "k": value}
    else:
        node[leaf] = value
    return data


def expected_runs(plan, fmt: str) -> list[list[str]]:
    """The argv of each step the script runs itself, as the stubs log it."""
    out = []
    for s in plan.steps:
        argv = list(s.argv)
        if s.name == "submit":
            i = argv.index("--runtime-env-json") + 1
            env = json.loads(argv[i])
            env["env_vars"].update({n: FORWARDED[n] for n in s.forward_env})
            argv[i] = json.dumps(env)
        if fmt == "shell" and s.where != "head":
            continue
        if fmt == "sbatch" and s.name == "ray-head":
            argv[argv.index("--node-ip-address") + 1] = stubs.HEAD_IP
            argv.append("--block")
        if fmt == "sbatch" and s.name == "ray-workers":
            i = argv.index("--address") + 1
            argv[i] = stubs.HEAD_IP + ":" + argv[i].rsplit(":", 1)[1]
            out += [argv + ["--block"]] * (plan.nodes - 1)
            continue
        out.append(argv)
    return out


def check_rendering(resolved: Resolved, root: Path) -> None:
    plan = build_plan(resolved, run_checks(resolved))  # warnings quote values into comments
    check_plan(plan, root)
    out = write_bundle(resolved, plan, root / "bundle", None, ["recipe-runner", "plan"])
    for name in ("launch.sh", "convert.sh", "sbatch.sh"):
        stubs.bash_n((out / name).read_text(), root)
    assert not [c for c in stubs.run((out / "convert.sh").read_text(), root) if c[0] == "pwned"]
    assert resolve("recipe", (), out).fingerprint == plan.fingerprint


def check_plan(plan: Plan, root: Path) -> None:
    assert json.loads(render(plan, "json")) == json.loads(json.dumps(plan.to_dict()))
    text = render(plan, "text")
    assert all(one_line(line) == line for line in text.split("\n"))  # no control character reaches a terminal
    for fmt in ("shell", "sbatch"):
        script = render(plan, fmt)
        stubs.bash_n(script, root)
        calls = stubs.run(script, root, plan.nodes, plan.gpus_per_node, FORWARDED)
        assert not [c for c in calls if c[0] == "pwned"], calls
        ran = stubs.steps_run(calls)
        want = expected_runs(plan, fmt)
        assert (sorted(ran) if fmt == "sbatch" else ran) == (sorted(want) if fmt == "sbatch" else want)
    try:
        rayjob = render(plan, "rayjob")
    except UserError:
        return  # a value that leaves a path off the pods' volumes: the RayJob is refused, exit 2
    docs = list(yaml.safe_load_all(rayjob))
    assert len(docs) == 1 and docs[0]["kind"] == "RayJob"
    submit = plan.step("submit").argv
    entry = shlex.split(docs[0]["spec"]["entrypoint"])
    if plan.run_config:  # `sh -c 'write the run config && ... && exec python3 train.py ...'`
        assert entry[:2] == ["sh", "-c"] and entry[2].endswith(" exec " + shlex.join(submit[submit.index("--") + 1:]))
    else:
        assert entry == submit[submit.index("--") + 1:]
    assert yaml.safe_load(docs[0]["spec"]["runtimeEnvYAML"]) == {"env_vars": plan.env}
    assert docs[0]["metadata"]["annotations"]["recipe-runner/recipe"] == plan.recipe


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), value=hostile)
def test_hostile_strings_render_safely_or_are_refused(field, value) -> None:
    path, kind = field
    data = with_value(path, kind, value)
    try:
        recipe = validate_dict(data)
        resolved = Resolved(recipe, shape_of(load_config(recipe.model.config, recipe.model.config_overrides)), ())
    except UserError:
        return  # refused with exit 2: the schema's job, tested in test_inputs.py
    with tempfile.TemporaryDirectory() as tmp:
        check_rendering(resolved, Path(tmp))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hostile.filter(lambda t: "\0" not in t))
def test_writers_are_safe_even_past_the_schema(text) -> None:
    """Free text a plan carries (names, warnings, descriptions) is hostile here, as if a check let it through.
    (NUL cannot be in an argv: the shell writer refuses it, test below.)"""
    plan = base_plan()
    steps = [dataclasses.replace(s, description=text) for s in plan.steps]
    plan = dataclasses.replace(plan, recipe=text, mode=text, warnings=[text, "x" + text], steps=steps)
    with tempfile.TemporaryDirectory() as tmp:
        check_plan(plan, Path(tmp))


def test_the_shell_writer_refuses_nul_rather_than_write_it() -> None:
    with pytest.raises(ValueError, match="NUL"):
        sh.join(["ray", "a\0b"])


def test_every_string_field_is_covered() -> None:
    paths = {".".join(p) for p, _ in FIELDS}
    for key in ("name", "checkpoints.hf", "cluster.ray.head_ip", "launch.env", "wandb.group", "data.input_key",
                "training.extra_args", "model.extra_args", "data.eval.datasets", "launch.forward_env"):
        assert key in paths, key
