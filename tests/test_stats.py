"""The gate's power: the detectable drop, checked against a simulation of the gate itself."""
from __future__ import annotations

import random

import pytest

from tinyqa.suites import gate
from tinyqa.suites.stats import gate_power, items_needed, min_detectable_drop

DRAWS = 2000


def simulated_power(n: int, rate: float, drop: float, t: gate.Thresholds, rng: random.Random,
                    flip_rate: float = 0.0) -> float:
    """The share of DRAWS paired draws that the gate's own rule (gate.judge) fails: items right
    in the baseline with probability `rate`; each right one lost with probability drop/rate
    (so each item is lost with probability `drop`), and noise: a share `flip_rate` of the items
    flips, half each way (a right item lost, a wrong one gained, each with f/2 per item)."""
    fails = 0
    for _ in range(DRAWS):
        lost = gained = 0
        for _ in range(n):
            right = rng.random() < rate
            u = rng.random()
            if right:
                lost += u < (drop + flip_rate / 2) / rate
            else:
                gained += u < (flip_rate / 2) / (1 - rate)
        fails += gate.judge(lost, gained, n, t).worse
    return fails / DRAWS


def simulated_detectable_drop(n: int, rate: float, t: gate.Thresholds, flip_rate: float = 0.0) -> float:
    rng = random.Random(27)
    drop = t.max_drop   # no drop within max_drop fails
    while drop < rate:
        drop = round(drop + 0.005, 3)
        if simulated_power(n, rate, drop, t, rng, flip_rate) >= 0.8:
            return drop
    raise AssertionError("no detectable drop")


@pytest.mark.parametrize("flip_rate", [0.0, 0.1])
def test_detectable_drop_of_52_items_at_80_percent_matches_a_simulation(flip_rate):
    t = gate.Thresholds()
    analytic = min_detectable_drop(52, 0.8, alpha=t.alpha, max_drop=t.max_drop, flip_rate=flip_rate)
    simulated = simulated_detectable_drop(52, 0.8, t, flip_rate)
    assert abs(analytic - simulated) <= 0.02, (analytic, simulated)


def test_power_rises_with_the_drop_and_the_pack():
    assert gate_power(52, 0.8, 0.05) < 0.1           # at max_drop: a false alarm now and then, no more
    assert gate_power(52, 0.8, 0.10) < gate_power(52, 0.8, 0.20) < gate_power(52, 0.8, 0.40)
    assert min_detectable_drop(200, 0.8) < min_detectable_drop(52, 0.8) < min_detectable_drop(20, 0.8)


def test_too_small_a_pack_detects_nothing_and_says_how_many_items_would():
    assert min_detectable_drop(5, 0.8) is None       # 5 lost items never reach p < 0.05
    assert min_detectable_drop(52, 0.0) is None      # nothing right to lose
    n = items_needed(0.10, 0.8)
    assert gate_power(n, 0.8, 0.10) >= 0.8 > gate_power(round(n * 0.8), 0.8, 0.10)
    assert items_needed(0.04, 0.8) is None           # within max_drop: no pack size settles it
