"""The model catalogue: every `model/` option with its family, size and the precision modes its shapes allow.

Which modes a model can take follows from the pre-flight shape rules alone (checks/shapes.py, checks/modes.py):
block FP8 needs every rollout shard tiled by 128x128 blocks, INT4 needs each routed-expert shard's in-features
divisible by the group size, and INT4 QAT needs routed experts to act on. Choosing the layout is the advisor's job;
this lists the SGLang engine sizes (TP, with or without expert parallelism) at which a mode's checkpoint loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from recipe_runner.checks.modes import fp8_experts_fit, qat_has_targets
from recipe_runner.checks.shapes import fp8_block_misfits, int4_group_misfits, qat_groups_fit
from recipe_runner.compose import recipe_dirs
from recipe_runner.errors import user_error
from recipe_runner.estimate import params
from recipe_runner.models import ModelShape, load_config, shape_of
from recipe_runner.precision import MODES
from recipe_runner.spec import Model

ENGINE_TPS = (1, 2, 4, 8)  # GPUs per SGLang engine on one node


@dataclass(frozen=True)
class ModeFit:
    """Engine sizes at which a mode's rollout checkpoint loads: experts split over TP, or whole (SGLang EP)."""

    tp: tuple[int, ...]
    ep: tuple[int, ...]

    @property
    def allowed(self) -> bool:
        return bool(self.tp or self.ep)

    def label(self) -> str:
        if not self.allowed:
            return "no"
        parts = [f"tp {_numbers(self.tp)}"] if self.tp else []
        if self.ep and self.ep != self.tp:
            parts.append(f"ep {_numbers(self.ep)}")
        return " ".join(parts)


@dataclass(frozen=True)
class ModelRow:
    option: str
    family: str
    params: int
    active: int  # parameters per token (routed experts: top-k of them)
    modes: dict[str, ModeFit]


def mode_fits(s: ModelShape, group_size: int) -> dict[str, ModeFit]:
    """Every precision mode -> where its shapes fit, by the pre-flight shape rules."""
    def fit(ok) -> ModeFit:
        return ModeFit(tuple(tp for tp in ENGINE_TPS if ok(tp, False)),
                       tuple(tp for tp in ENGINE_TPS if s.is_moe and ok(tp, True)))

    fits = {
        "bf16": lambda tp, ep: True,
        "fp8-block": lambda tp, ep: fp8_experts_fit(s) and not fp8_block_misfits(s, tp, ep),
        "int4-pack": lambda tp, ep: not int4_group_misfits(s, tp, ep, group_size),
    }
    out = {}
    for name, m in MODES.items():
        trainable = not m.qat or (qat_has_targets(s) and qat_groups_fit(s, 1, group_size))
        out[name] = fit(fits[m.rollout_format]) if trainable else ModeFit((), ())
    return out


def model_rows(group_size: int = 128, extra_dir: str | Path | None = None) -> list[ModelRow]:
    rows = []
    for option, path in _options(extra_dir):
        m = _model(path)
        s = shape_of(load_config(m.config, m.config_overrides))
        p = params(s)
        active = p.total - p.experts + (p.experts * s.topk // s.experts if s.is_moe else 0)
        rows.append(ModelRow(option, s.family, p.total, active, mode_fits(s, group_size)))
    return rows


def _options(extra_dir: str | Path | None) -> list[tuple[str, Path]]:
    seen: dict[str, Path] = {}
    for d in recipe_dirs(extra_dir):
        for f in sorted((d / "model").glob("*.yaml")):
            seen.setdefault(f.stem, f)
    return sorted(seen.items())


def _model(path: Path) -> Model:
    try:
        return Model.model_validate(yaml.safe_load(path.read_text()))
    except (yaml.YAMLError, ValidationError) as e:
        raise user_error(str(path), f"not a valid model option: {str(e).splitlines()[0]}",
                         hint="fix the file; `recipe-runner schema` lists the model fields",
                         title="invalid model") from None


def _numbers(values: tuple[int, ...]) -> str:
    return ",".join(str(v) for v in values)
