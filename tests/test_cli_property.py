"""Random override sets never produce a traceback: only a valid plan (exit 0) or a clean error (exit 2)."""

from __future__ import annotations

import contextlib
import io
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recipe_runner.cli import main

KEYS = ["cluster.nodes", "cluster.gpus_per_node", "cluster.gpu", "cluster.colocate", "cluster.rollout_gpus",
        "parallel.tensor", "parallel.pipeline", "parallel.expert", "parallel.expert_tensor", "parallel.context",
        "rollout.gpus_per_engine", "rollout.batch_size", "rollout.max_response_len", "rollout.temperature",
        "rollout.sglang.mem_fraction_static", "rollout.sglang.expert_parallel_size", "precision.group_size",
        "training.max_tokens_per_gpu", "optimizer.cpu_offload", "checkpoints.rollout", "model.config",
        "rollout.sglang.extra_args", "training.extra_args", "launch.env.X", "rollout.temprature", "nodes"]
VALUES = st.one_of(st.integers(-3, 300).map(str), st.sampled_from(
    ["0.5", "1e9", "true", "null", "H100", "L40S", "bogus", "[--sglang-foo,'1']", "[]", "/nonexistent", "'a b'",
     "${cluster.nodes}", "[1,2", "qwen3-4b"]))
GROUPS = st.sampled_from(["precision=bf16", "precision=fp8-full", "precision=int4-qat", "precision=fp4",
                          "cluster=h200-2x8", "model=qwen3-4b", "~rollout.sglang", "+x=1"])
OVERRIDE = st.one_of(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), VALUES), GROUPS)
RECIPES = st.sampled_from(["qwen3-30b-a3b-int4", "qwen3-4b-fp8", "moonlight-16b-a3b-int4", "qwen3-30b-a3b-fp8"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipe=RECIPES, overrides=st.lists(OVERRIDE, max_size=4))
def test_random_overrides_give_a_plan_or_a_clean_error(recipe: str, overrides: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["plan", recipe, *overrides, "--format", "json"])
    assert code in (0, 2), err.getvalue()  # random input: either outcome is right, a traceback (1) never is
    if code == 2:
        assert err.getvalue().startswith("error: ") and out.getvalue() == ""
    else:
        assert json.loads(out.getvalue())["recipe"] == recipe
