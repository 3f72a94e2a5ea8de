"""Retry backoff: doubling from ``backoff``, never above ``max_backoff``, jitter within
±25 % and really spread (deterministic: the random source is passed in)."""

from __future__ import annotations

import random

import pytest

from trayjobs.engine.engine import backoff_delay


def test_doubles_from_the_base_up_to_the_cap():
    waits = [backoff_delay(a, base=30, cap=3600, jitter=False) for a in range(1, 11)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]
    # The last allowed attempt (100) is still just the cap.
    assert backoff_delay(100, base=30, cap=3600, jitter=False) == 3600
    assert backoff_delay(3, base=0, cap=3600, jitter=False) == 0


@pytest.mark.parametrize("attempt, uncapped", [(1, 30), (3, 120), (12, 3600)])
def test_jitter_stays_within_a_quarter_and_under_the_cap(attempt, uncapped):
    cap = 3600
    lo = backoff_delay(attempt, base=30, cap=cap, jitter=True, rand=lambda: 0.0)
    hi = backoff_delay(attempt, base=30, cap=cap, jitter=True, rand=lambda: 0.999999)
    assert lo == pytest.approx(0.75 * uncapped)
    # max_backoff is the longest wait, jitter included.
    assert hi == pytest.approx(min(cap, 1.25 * uncapped), rel=1e-5)
    assert hi <= cap


def test_jitter_spreads_the_waits():
    rng = random.Random(11)
    waits = [backoff_delay(2, base=10, cap=3600, jitter=True, rand=rng.random)
             for _ in range(1000)]
    assert all(15 <= w <= 25 for w in waits)
    assert min(waits) < 15.5 and max(waits) > 24.5  # the whole ±25 % band is used
    assert len({round(w, 3) for w in waits}) > 900  # not a handful of values
    lower = sum(w < 20 for w in waits)
    assert 400 < lower < 600  # evenly either side of the plain wait
    # Two runs failing together do not retry together.
    rng2 = random.Random(12)
    assert backoff_delay(2, base=10, cap=3600, jitter=True, rand=rng2.random) != waits[0]


def test_without_jitter_the_random_source_is_not_used():
    def boom() -> float:
        raise AssertionError("jitter = false must not draw a random number")
    assert backoff_delay(2, base=10, cap=3600, jitter=False, rand=boom) == 20
