"""`verify_checkpoint`: re-read a converted checkpoint, check its format and measure its error.

Checks: every shard parses and the index agrees with the shards (names and byte `total_size`);
config.json carries a quantization_config we can read; every quantized module has the right tensors,
dtypes and shapes; every unquantized 2-D weight is covered by the config's keep/ignore list (else
SGLang would try to load it as quantized); our dequantization equals the consumer's own (reference.py),
is finite, and, given the source, is reported as relative error while copied tensors must be identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipe_runner.errors import user_error

from . import reference
from .deps import require_torch
from .params import Fp8Params, Int4Params
from .qconfig import QuantConfig, read_quantization_config
from .rules import int4_quantizes
from .source import INDEX_NAME, Checkpoint, open_checkpoint


@dataclass(frozen=True)
class TensorCheck:
    name: str  # the module's weight name, e.g. model.layers.0.mlp.experts.0.down_proj.weight
    kind: str  # fp8 | int4 | copy
    rel_error: float | None  # ||dequant - source|| / ||source||, when the source is given
    max_abs_error: float | None


@dataclass(frozen=True)
class VerifyReport:
    dst: Path
    mode: str
    reference: str  # which third-party dequantizer agreed with ours, or why none ran
    tensors: tuple[TensorCheck, ...]
    problems: tuple[str, ...]
    overall_rel_error: float | None

    @property
    def ok(self) -> bool:
        return not self.problems


class _Checker:
    def __init__(self, dst: Checkpoint, source: Checkpoint | None) -> None:
        self.torch = require_torch()
        self.dst, self.source = dst, source
        self.problems: list[str] = []
        self.checks: list[TensorCheck] = []
        self.err_sq = self.ref_sq = 0.0
        self.references: set[str] = set()
        self.where = {t.name: s.path for s, t in dst.tensors()}
        self.info = {t.name: t for _, t in dst.tensors()}
        self.src_where = {t.name: s.path for s, t in source.tensors()} if source else {}
        self.src_info = {t.name: t for _, t in source.tensors()} if source else {}

    def load(self, name: str, src: bool = False) -> Any:
        from safetensors import safe_open

        path = (self.src_where if src else self.where)[name]
        with safe_open(str(path), framework="pt", device="cpu") as f:
            return f.get_tensor(name)

    def compare(
        self,
        name: str,
        kind: str,
        deq: Any,
        ref: tuple[str, reference.Dequant] | None,
        inputs: dict[str, Any],
    ) -> None:
        """Check our dequantization: equal to the reference, finite, and near the source."""
        torch = self.torch
        if ref is not None and deq.numel():  # an empty weight has nothing to compare (transformers divides by 0)
            self.references.add(ref[0])
            expected = ref[1](inputs)
            if not torch.equal(expected, deq.to(expected.dtype)):
                self.problems.append(f"{name}: our dequantization differs from {ref[0]}")
        if not torch.isfinite(deq).all():
            self.problems.append(f"{name}: dequantized weight has NaN or Inf")
        rel = mx = None
        if self.source is not None:
            src_shape = self.source_shape(name)
            if src_shape is None:
                self.problems.append(f"{name}: not in the source checkpoint")
            elif src_shape != tuple(deq.shape):
                self.problems.append(f"{name}: {list(deq.shape)} here, {list(src_shape)} in the source")
            else:
                w = self.load(name, src=True).float()
                diff = deq.float() - w
                self.err_sq += float(diff.square().sum())
                self.ref_sq += float(w.square().sum())
                rel = float(diff.norm() / w.norm().clamp(min=1e-30))
                mx = float(diff.abs().max()) if diff.numel() else 0.0
        self.checks.append(TensorCheck(name, kind, rel, mx))

    def source_shape(self, name: str) -> tuple[int, ...] | None:
        return self.src_info[name].shape if name in self.src_info else None

    def copied(self, name: str) -> None:
        if self.source is None:
            return
        if name not in self.src_where:
            self.problems.append(f"{name}: not in the source checkpoint")
        elif not self.torch.equal(self.load(name), self.load(name, src=True)):
            self.problems.append(f"{name}: kept tensor differs from the source")
        self.checks.append(TensorCheck(name, "copy", None, None))

    def shape_is(self, name: str, dtype: str | tuple[str, ...], shape: tuple[int, ...]) -> bool:
        t = self.info.get(name)
        dtypes = (dtype,) if isinstance(dtype, str) else dtype
        if t is None:
            self.problems.append(f"{name}: missing")
            return False
        if t.dtype not in dtypes or t.shape != shape:
            self.problems.append(f"{name}: {t.dtype} {list(t.shape)}, expected {'/'.join(dtypes)} {list(shape)}")
            return False
        return True


def _check_index(ckpt: Checkpoint, problems: list[str]) -> None:
    if ckpt.index is None:
        problems.append(f"{INDEX_NAME}: missing")
        return
    names = {t.name for _, t in ckpt.tensors()}
    unmapped = names - set(ckpt.index["weight_map"])
    if unmapped:
        problems.append(f"{INDEX_NAME}: {len(unmapped)} tensor(s) not in weight_map, e.g. {sorted(unmapped)[0]}")
    total = ckpt.index.get("metadata", {}).get("total_size")
    if total != ckpt.total_bytes:
        problems.append(f"{INDEX_NAME}: metadata.total_size is {total}, the shards hold {ckpt.total_bytes} bytes")


def _mode(ckpt: Checkpoint) -> QuantConfig:
    qc = read_quantization_config(ckpt.config, str(ckpt.root / "config.json"))
    if qc is not None and qc.params is not None:
        return qc
    raise user_error(
        str(ckpt.root / "config.json"),
        "has no block-FP8 or symmetric INT4 pack-quantized quantization_config",
        hint="verify a directory written by `recipe-runner convert`",
    )


def _verify_fp8(c: _Checker, qc: QuantConfig) -> None:
    from . import fp8

    assert isinstance(qc.params, Fp8Params)
    block = qc.params.block_size
    skipped = set(qc.not_converted)
    for name, t in sorted(c.info.items()):
        if name.endswith(".weight_scale_inv"):
            continue
        base = name[: -len(".weight")] if name.endswith(".weight") else name
        if t.dtype == "F8_E4M3":
            if len(t.shape) != 2 or not c.shape_is(f"{base}.weight_scale_inv", "F32", fp8.scale_shape(t.shape, block)):
                continue
            q, s = c.load(name), c.load(f"{base}.weight_scale_inv")
            deq = fp8.dequantize(q, s, block)
            c.compare(
                name,
                "fp8",
                deq,
                reference.fp8_reference(block, t.shape),
                {"weight": q, "weight_scale_inv": s},
            )
        else:
            if name.endswith(".weight") and len(t.shape) == 2 and base not in skipped:
                c.problems.append(f"{name}: kept in {t.dtype} but not listed in modules_to_not_convert")
            c.copied(name)


def _verify_int4(c: _Checker, qc: QuantConfig) -> None:
    from . import int4

    assert isinstance(qc.params, Int4Params)
    group, ignore = qc.params.group_size, qc.params.ignore
    try:
        ref = reference.int4_reference(qc.raw)
    except ValueError as e:  # pydantic's ValidationError: a field we do not read is malformed
        c.problems.append(f"config.json: compressed-tensors cannot read this quantization_config: {e}")
        ref = None
    for name, t in sorted(c.info.items()):
        if name.endswith((".weight_scale", ".weight_shape")):
            continue
        if not name.endswith(".weight_packed"):
            if int4_quantizes(name, t.shape, ignore):
                c.problems.append(f"{name}: kept in {t.dtype} but not matched by the ignore rules")
            c.copied(name)
            continue
        base = name[: -len(".weight_packed")]
        if len(t.shape) != 2:
            c.problems.append(f"{name}: {list(t.shape)}, expected a 2-D [N, K/8] int32 tensor")
            continue
        n, k = t.shape[0], t.shape[1] * 8
        if not (
            c.shape_is(name, "I32", (n, k // 8))
            and c.shape_is(f"{base}.weight_scale", ("BF16", "F16", "F32"), (n, k // group))
            and c.shape_is(f"{base}.weight_shape", ("I64", "I32"), (2,))
        ):
            continue
        tensors = {p: c.load(f"{base}.{p}") for p in ("weight_packed", "weight_scale", "weight_shape")}
        if tensors["weight_shape"].tolist() != [n, k]:
            c.problems.append(f"{base}.weight_shape: {tensors['weight_shape'].tolist()}, expected {[n, k]}")
            continue
        deq = int4.dequantize(tensors["weight_packed"], tensors["weight_scale"], k)
        if (int4.unpack(tensors["weight_packed"], k) == -8).any():
            c.problems.append(f"{name}: code -8 present, symmetric INT4 uses [-7, 7]")
        c.compare(f"{base}.weight", "int4", deq, ref, tensors)


def verify_checkpoint(dst: Path | str, source: Path | str | None = None) -> VerifyReport:
    """Check DST's format and, with SOURCE, its error; problems are returned, not raised."""
    dst_ckpt = open_checkpoint(Path(dst))
    src_ckpt = open_checkpoint(Path(source)) if source is not None else None
    qc = _mode(dst_ckpt)
    mode = qc.params.mode  # type: ignore[union-attr]
    c = _Checker(dst_ckpt, src_ckpt)
    _check_index(dst_ckpt, c.problems)
    (_verify_fp8 if mode == "fp8" else _verify_int4)(c, qc)
    if not any(ch.kind != "copy" for ch in c.checks):
        c.problems.append("no quantized tensor found")
    ref = ", ".join(sorted(c.references)) or "none installed (compressed-tensors / transformers); ours only"
    overall = math.sqrt(c.err_sq / c.ref_sq) if c.ref_sq > 0 else None
    return VerifyReport(Path(dst), mode, ref, tuple(c.checks), tuple(c.problems), overall)
