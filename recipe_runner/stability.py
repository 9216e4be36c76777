"""Stability of a low-precision run against a baseline: reward gap, train-rollout log-prob mismatch, a verdict.

slime's guidance is "watch for divergence when switching to lower precision" (THUDM/slime@624b824a:
docs/en/advanced/low-precision.md). This turns it into numbers a person can act on:
  reward gap   mean of (baseline reward - run reward) over the last `window` common steps
               (slime logs the rollout reward as `rollout/raw_reward`)
  mismatch     `train/train_rollout_logprob_abs_diff` (slime logs it when its mismatch metrics are on):
               its least-squares slope over the window, and its growth = mean of the window's last quarter
               / mean of its first quarter
  verdict      diverging: the gap is over `reward_gap` and the mismatch grows by `mismatch_growth` or more;
               watch: either one alone; stable: neither. A run with no reward in the window is "no data".
Pure: it takes metric series, so it serves offline runs and the W&B API alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from recipe_runner.spec import Stability as Thresholds

REWARD = "rollout/raw_reward"
MISMATCH = "train/train_rollout_logprob_abs_diff"
Series = Sequence[tuple[float, float]]
DEFAULTS = Thresholds()


@dataclass(frozen=True)
class Report:
    final_reward: float | None
    best_reward: float | None
    reward_gap: float | None  # baseline - run, mean over the window; positive = the run is behind
    mismatch_slope: float | None  # per step
    mismatch_growth: float | None
    verdict: str  # stable | watch | diverging | baseline | no data
    reasons: tuple[str, ...]


def assess(history: Mapping[str, Series], baseline: Mapping[str, Series] | None,
           thresholds: Thresholds = DEFAULTS) -> Report:
    """The report of one run; `baseline` None means this run is the baseline."""
    reward = _sorted(history.get(REWARD, ()))
    final = reward[-1][1] if reward else None
    best = max(v for _, v in reward) if reward else None
    mismatch = _sorted(history.get(MISMATCH, ()))[-thresholds.window:]
    slope, growth = _slope(mismatch), _growth(mismatch)
    if baseline is None:
        return Report(final, best, None, slope, growth, "baseline", ())
    gap = _gap(reward, _sorted(baseline.get(REWARD, ())), thresholds.window)
    if gap is None:
        return Report(final, best, None, slope, growth, "no data",
                      (f"no {REWARD} at steps the baseline also has",))
    reasons = []
    if gap > thresholds.reward_gap:
        reasons.append(f"reward {gap:.3f} below the baseline over the last {thresholds.window} steps "
                       f"(threshold {thresholds.reward_gap})")
    if growth is not None and growth >= thresholds.mismatch_growth:
        reasons.append(f"log-prob mismatch grew {growth:.1f}x over the window (threshold "
                       f"{thresholds.mismatch_growth}x)")
    verdict = "diverging" if len(reasons) == 2 else "watch" if reasons else "stable"
    return Report(final, best, gap, slope, growth, verdict, tuple(reasons))


def _sorted(series: Series) -> list[tuple[float, float]]:
    return sorted((float(s), float(v)) for s, v in series if v == v)  # drop NaN


def _gap(run: list[tuple[float, float]], base: list[tuple[float, float]], window: int) -> float | None:
    base_at = dict(base)
    common = [(s, base_at[s] - v) for s, v in run if s in base_at][-window:]
    return sum(d for _, d in common) / len(common) if common else None


def _slope(series: list[tuple[float, float]]) -> float | None:
    if len(series) < 2:
        return None
    n = len(series)
    mx, my = sum(s for s, _ in series) / n, sum(v for _, v in series) / n
    var = sum((s - mx) ** 2 for s, _ in series)
    return sum((s - mx) * (v - my) for s, v in series) / var if var else None


def _growth(series: list[tuple[float, float]]) -> float | None:
    quarter = len(series) // 4
    if quarter < 1:
        return None
    first = sum(v for _, v in series[:quarter]) / quarter
    last = sum(v for _, v in series[-quarter:]) / quarter
    return last / first if first > 0 else None
