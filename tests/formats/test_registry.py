"""The format registry: every format round-trips its own quantization_config and parameters, every precision mode
names a registered format, and no module outside formats/ branches on a format's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from recipe_runner import formats
from recipe_runner.formats.fp8_block import FP8_BLOCK_DIMS, Fp8Params
from recipe_runner.formats.int4_pack import INT4_GROUP_SIZES, Int4Params
from recipe_runner.precision import MODES

PACKAGE = Path(formats.__file__).resolve().parent.parent
KEPT = ("model.embed_tokens.weight", "model.layers.0.mlp.gate.weight", "model.norm.weight", "lm_head.weight")
PARAMS = [Fp8Params((bn, bk)) for bn in FP8_BLOCK_DIMS for bk in FP8_BLOCK_DIMS] + [
    Int4Params(g, ignore) for g in INT4_GROUP_SIZES for ignore in (Int4Params(g).ignore, ("lm_head", "re:.*gate.*"))]


def test_registry_holds_one_module_per_format() -> None:
    assert list(formats.FORMATS) == ["bf16", "fp8-block", "int4-pack"]
    assert {f.__class__.__module__ for f in formats.FORMATS.values()} == {
        "recipe_runner.formats.bf16", "recipe_runner.formats.fp8_block", "recipe_runner.formats.int4_pack"}
    assert formats.CONVERSIONS["fp8"] is formats.FP8 and formats.CONVERSIONS["int4"] is formats.INT4
    for name, fmt in formats.FORMATS.items():
        assert formats.get(name) is fmt and fmt.name == name
        if fmt.conversion:
            assert formats.by_conversion(fmt.conversion) is fmt


@pytest.mark.parametrize("params", PARAMS, ids=repr)
def test_each_format_reads_back_the_quantization_config_it_writes(params: Fp8Params | Int4Params) -> None:
    fmt = params.format
    written = fmt.quantization_config(params, KEPT)
    qc = formats.read_quantization_config({"quantization_config": written}, "config.json")
    assert qc is not None and qc.format is fmt and qc.params == params and qc.raw == written
    if fmt is formats.FP8:  # the kept modules, `.weight` removed, are what it lists
        assert qc.not_converted == tuple(sorted(n.removesuffix(".weight") for n in KEPT))
    assert formats.params_from_json(params.mode, params.to_json()) == params
    assert formats.params_from_json(fmt.conversion, {**params.to_json()}).to_json() == params.to_json()


def test_bf16_has_no_quantization_config() -> None:
    assert formats.read_quantization_config({"hidden_size": 8}, "config.json") is None
    assert formats.read_quantization_config({"quantization_config": {}}, "config.json") is None
    assert formats.BF16.quant_method is None and formats.BF16.bytes_per_param(128) == 2


def test_every_precision_mode_names_a_registered_format_and_its_conversion() -> None:
    for m in MODES.values():
        fmt = formats.get(m.rollout_format)
        assert (m.conversion is None) == (fmt.quant_method is None), m.name  # a quantized rollout is converted
        if m.conversion:
            assert formats.by_conversion(m.conversion) is fmt, m.name


def _format_names() -> set[str]:
    """Names that select a quantized format: its name and its converter sub-command ("bf16" is left out: it is
    also a precision mode's name, which precision.py's table owns)."""
    return {n for f in formats.FORMATS.values() if f.quant_method for n in (f.name, f.conversion)}


def _branches(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines comparing with (==, !=, in, match) one of `names` as a string literal."""
    def named(node: ast.AST) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in names
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(named(e) for e in node.elts)
        return isinstance(node, ast.MatchValue) and named(node.value)

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(named(n) for n in (node.left, *node.comparators)):
            lines.append(node.lineno)
        elif isinstance(node, ast.match_case) and named(node.pattern):
            lines.append(node.pattern.lineno)
    return lines


def test_the_guard_sees_a_branch_on_a_format_name() -> None:
    names = _format_names()
    assert _branches(ast.parse('if m.rollout_format != "fp8-block":\n    pass'), names) == [1]
    assert _branches(ast.parse('x = kind in ("fp8", "copy")'), names) == [1]
    assert _branches(ast.parse('match c:\n    case "int4":\n        pass'), names) == [2]
    assert _branches(ast.parse('x = {"fp8": 1}["fp8"]'), names) == []


def test_no_module_outside_formats_branches_on_a_format_name() -> None:
    names = _format_names()
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.parent.name == "formats":
            continue
        lines = _branches(ast.parse(path.read_text()), names)
        found += [f"{path.relative_to(PACKAGE.parent)}:{line}" for line in lines]
    assert found == [], "ask recipe_runner.formats instead of comparing format names: " + ", ".join(found)
