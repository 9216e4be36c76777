"""stability.assess on curves with a known answer."""

import math

from recipe_runner.spec import Stability
from recipe_runner.stability import MISMATCH, REWARD, assess

STEPS = range(40)


def _curve(reward, mismatch=None):
    out = {REWARD: [(s, reward(s)) for s in STEPS]}
    if mismatch:
        out[MISMATCH] = [(s, mismatch(s)) for s in STEPS]
    return out


BASE = _curve(lambda s: 0.3 + 0.01 * s, lambda s: 0.01)


def test_baseline_is_marked():
    report = assess(BASE, None)
    assert report.verdict == "baseline" and math.isclose(report.final_reward, 0.69)


def test_a_run_that_tracks_the_baseline_is_stable():
    report = assess(_curve(lambda s: 0.3 + 0.01 * s - 0.01, lambda s: 0.011), BASE)
    assert report.verdict == "stable" and math.isclose(report.reward_gap, 0.01)


def test_falling_reward_and_growing_mismatch_diverge():
    report = assess(_curve(lambda s: 0.3 + 0.01 * min(s, 15) - 0.01 * max(0, s - 15),
                           lambda s: 0.01 * 1.08 ** s), BASE)
    assert report.verdict == "diverging" and len(report.reasons) == 2
    assert report.mismatch_slope > 0 and report.mismatch_growth >= 2


def test_one_signal_alone_is_watch():
    behind = assess(_curve(lambda s: 0.2 + 0.01 * s, lambda s: 0.01), BASE)
    growing = assess(_curve(lambda s: 0.3 + 0.01 * s, lambda s: 0.01 * 1.08 ** s), BASE)
    assert behind.verdict == growing.verdict == "watch"


def test_thresholds_come_from_the_recipe_block():
    run = _curve(lambda s: 0.2 + 0.01 * s, lambda s: 0.01)
    assert assess(run, BASE, Stability(reward_gap=0.2)).verdict == "stable"


def test_no_common_steps_is_no_data():
    run = {REWARD: [(1000 + s, 0.5) for s in STEPS]}
    assert assess(run, BASE).verdict == "no data"
