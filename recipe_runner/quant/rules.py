"""Which tensors are quantized and which stay in high precision, by name.

Both modes decide from the HF tensor name and rank alone, before any byte is read.
"""

from __future__ import annotations

import re

from recipe_runner.errors import user_error

# THUDM/slime@624b824a:tools/convert_hf_to_fp8.py:133-149: a key is kept in high precision when it
# contains any of these substrings (norms, embeddings, the router `mlp.gate.`, lm_head, MTP eh_proj,
# indexer weights_proj, linear-attention conv/A_log/dt_bias/in_proj_a/in_proj_b).
FP8_KEEP_SUBSTRINGS = (
    "layernorm", "embed", "router", "mlp.gate.", "norm", "lm_head", "eh_proj",
    "weights_proj", "conv1d", "A_log", "dt_bias", "in_proj_a", "in_proj_b",
)  # fmt: skip

# THUDM/slime@624b824a:tools/convert_hf_to_int4_direct.py:285-307 (`--ignore-rules` default): only
# routed experts are quantized. `re:` rules use re.match (anchored at the start), as SGLang/vLLM do.
INT4_DEFAULT_IGNORE = (
    "re:.*lm_head.*",
    "re:.*norm.*",
    "re:.*embed.*",
    "re:.*self_attn.*",
    "re:.*shared_experts.*",
    r"re:.*mlp\.(gate|up|gate_up|down)_proj.*",
    r"re:.*mlp\.gate\.*",
)


def _quantizable(name: str, shape: tuple[int, ...]) -> bool:
    """2-D `.weight` tensors with elements: other ranks crash upstream, and a zero-size tensor is copied as is."""
    return name.endswith(".weight") and len(shape) == 2 and 0 not in shape


def fp8_quantizes(name: str, shape: tuple[int, ...]) -> bool:
    """Upstream's substring rule, restricted to quantizable tensors."""
    return _quantizable(name, shape) and not any(s in name for s in FP8_KEEP_SUBSTRINGS)


def check_rules(rules: tuple[str, ...], where: str = "--ignore") -> None:
    """Reject a rule that is not a string or a `re:` rule that is not a valid regex before any work starts."""
    for rule in rules:
        if not isinstance(rule, str):
            raise user_error(where, f"rule {rule!r} is not a string", hint="write each rule as a string")
        if rule.startswith("re:"):
            try:
                re.compile(rule[3:])
            except re.error as e:
                raise user_error(
                    where,
                    f"{rule!r} is not a valid regular expression ({e})",
                    rule="a rule is an exact tensor-name prefix or `re:<regex>` (matched from the start)",
                    hint="escape dots as \\. and check brackets",
                ) from e
        elif not rule:
            raise user_error(where, "an empty rule ignores every tensor", hint="drop the empty rule")


def int4_ignored(name: str, rules: tuple[str, ...]) -> bool:
    """slime's match (tools/convert_hf_to_int4_direct.py:181-190): `re:` + re.match, equality, or prefix."""
    for rule in rules:
        if rule.startswith("re:"):
            if re.match(rule[3:], name):
                return True
        elif name == rule or name.startswith(rule):
            return True
    return False


def int4_quantizes(name: str, shape: tuple[int, ...], rules: tuple[str, ...]) -> bool:
    return _quantizable(name, shape) and not int4_ignored(name, rules)


# What a conversion with no tensor to quantize is told, by the converter and by the pre-flight check alike.
NOTHING_QUANTIZED_RULES = {
    "int4": "the default ignore rules keep everything but routed experts",
    "fp8": "only 2-D `.weight` tensors outside the keep rules are quantized",
}


def nothing_quantized(conversion: str) -> tuple[str, str]:
    """(message, rule) when `convert <conversion>` would quantize no tensor."""
    return f"no tensor would be quantized by {conversion}", NOTHING_QUANTIZED_RULES[conversion]


def quantized_by_default(conversion: str, name: str, shape: tuple[int, ...]) -> bool:
    """Whether `recipe-runner convert <conversion>` with its default rules quantizes this tensor.

    The plan's convert step uses the defaults, so pre-flight asks this to refuse a conversion that would
    quantize nothing before the converter does.
    """
    if conversion == "fp8":
        return fp8_quantizes(name, shape)
    return int4_quantizes(name, shape, INT4_DEFAULT_IGNORE)


def is_router(name: str) -> bool:
    """MoE routers: HF `mlp.gate.weight` (Qwen3-MoE, DeepSeek-V3) or any `router` tensor.

    A packed router is silently skipped by SGLang (all-zero routing, slime docs/en/developer_guide/debug.md).
    """
    return name.endswith("mlp.gate.weight") or "router" in name
