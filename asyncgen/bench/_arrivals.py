"""Open-loop arrival schedules: when each request is due, independent of any answer."""

from __future__ import annotations

import random
from collections.abc import Iterator


def constant_arrivals(rate: float) -> Iterator[float]:
    """Evenly spaced offsets (seconds from the step's start) at `rate` per second."""
    gap = 1.0 / rate
    k = 0
    while True:
        yield k * gap
        k += 1


def poisson_arrivals(rate: float, rng: random.Random) -> Iterator[float]:
    """Offsets of a Poisson process at `rate` per second (exponential gaps, seeded)."""
    t = 0.0
    while True:
        yield t
        t += rng.expovariate(rate)


def arrivals(rate: float, *, poisson: bool, rng: random.Random) -> Iterator[float]:
    """The schedule for one open-loop step."""
    return poisson_arrivals(rate, rng) if poisson else constant_arrivals(rate)


def prefixed(first_rate: float, first_seconds: float, rate: float) -> Iterator[float]:
    """Evenly spaced at `first_rate` for `first_seconds`, then at `rate`, without a gap."""
    t = 0.0
    while t < first_seconds:
        yield t
        t += 1.0 / first_rate
    while True:
        yield t
        t += 1.0 / rate
