"""Each rate-limit algorithm, driven by a paced reference client, against its own definition.

The client sends faster than the limit (with seeded jitter) on a fake clock, waits the
server's retry-after when refused, and records every admitted request. The checks restate
each algorithm's definition independently of its implementation (sums over windows, or
the arrival curve of a bucket), and also check that the algorithm is not stricter than it
says (the client gets close to the limit).
"""

from __future__ import annotations

import email.utils
import math
import random
from collections import defaultdict
from typing import Any

import pytest

from asyncgen.config import SimSettings
from asyncgen.sim.ratelimit import RateLimiter, retry_after_headers

WALL_AT_START = 1_700_000_007.3  # not aligned to a minute, so alignment is really tested


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


Event = tuple[float, int]  # (time, cost)


def drive(
    limiter: RateLimiter,
    clock: Clock,
    *,
    rate: float,
    seconds: float,
    cost: Any = lambda rng: 0,
    seed: int = 1,
) -> list[Event]:
    """A paced client at `rate` requests/s (±30 % jitter) that honours retry-after.

    Returns the (time, cost) of every admitted request; `cost` draws a token charge.
    """
    rng = random.Random(seed)
    start = clock.now
    admitted: list[Event] = []
    tokens = cost(rng)
    while clock.now - start < seconds:
        verdict = limiter.admit("key", tokens)
        if verdict.admitted:
            admitted.append((clock.now, tokens))
            tokens = cost(rng)
            clock.now += rng.uniform(0.7, 1.3) / rate
        else:
            assert verdict.retry_after > 0 and not verdict.too_large
            clock.now += verdict.retry_after
    return admitted


def window_max(events: list[Event], span: float, *, tokens: bool) -> int:
    """The most admitted in any window (t - span, t] ending at an admission."""
    best = total = 0
    left = 0
    for right, (stamp, cost) in enumerate(events):
        total += cost if tokens else 1
        while events[left][0] <= stamp - span:
            total -= events[left][1] if tokens else 1
            left += 1
        best = max(best, total)
        assert right >= left
    return best


def bucket_excess(events: list[Event], rate: float, *, tokens: bool) -> float:
    """max over i <= j of (admitted in [t_i, t_j]) - rate * (t_j - t_i): a bucket's burst."""
    best = -math.inf
    running_max = -math.inf
    before = 0.0
    for stamp, cost in events:
        running_max = max(running_max, rate * stamp - before)
        before += cost if tokens else 1
        best = max(best, before - rate * stamp + running_max)
    return best


def per_fixed_window(events: list[Event], period: float, offset: float, *, tokens: bool) -> int:
    """The most admitted within one clock-aligned window."""
    counts: dict[int, int] = defaultdict(int)
    for stamp, cost in events:
        counts[math.floor((stamp + offset) / period)] += cost if tokens else 1
    return max(counts.values())


def make(algorithm: str, clock: Clock, **kwargs: Any) -> RateLimiter:
    kwargs.setdefault("rpm", None)
    kwargs.setdefault("tpm", None)
    rpm, tpm = kwargs.pop("rpm"), kwargs.pop("tpm")
    return RateLimiter(
        rpm, tpm, algorithm=algorithm, clock=clock, wall=lambda: WALL_AT_START, **kwargs
    )


def token_cost(rng: random.Random) -> int:
    return rng.randint(50, 400)


DIMENSIONS = [
    pytest.param({"rpm": 600}, False, id="rpm"),
    pytest.param({"tpm": 60_000}, True, id="tpm"),
]


def _limit(limits: dict[str, int]) -> int:
    return next(iter(limits.values()))


def _rate(limits: dict[str, int], tokens: bool) -> float:
    """Client request rate: 1.3x the limit (tokens: at the mean cost of 225)."""
    return 1.3 * _limit(limits) / 60 / (225 if tokens else 1)


def _admitted(events: list[Event], tokens: bool) -> int:
    return sum(cost for _, cost in events) if tokens else len(events)


def _drive(
    limiter: RateLimiter, clock: Clock, limits: dict[str, int], tokens: bool, seconds: float
) -> list[Event]:
    rate = _rate(limits, tokens)
    if tokens:
        return drive(limiter, clock, rate=rate, seconds=seconds, cost=token_cost)
    return drive(limiter, clock, rate=rate, seconds=seconds)


@pytest.mark.parametrize(("limits", "tokens"), DIMENSIONS)
def test_token_bucket_never_exceeds_its_arrival_curve(limits: dict[str, int], tokens: bool) -> None:
    """Any interval t admits at most sub_cap + rate*t (sub_cap = ceil(1.1 * limit/60))."""
    clock = Clock()
    events = _drive(make("token_bucket", clock, **limits), clock, limits, tokens, 150)
    limit = _limit(limits)
    sub_cap = math.ceil(limit / 60 * 1.1)
    assert bucket_excess(events, limit / 60, tokens=tokens) <= sub_cap + 1e-6
    assert window_max(events, 60, tokens=tokens) <= limit + sub_cap
    assert _admitted(events, tokens) >= 0.97 * limit * 150 / 60


@pytest.mark.parametrize("sub_window", [1.0, 10.0])
@pytest.mark.parametrize(("limits", "tokens"), DIMENSIONS)
def test_rolling_window_never_admits_more_than_either_window(
    limits: dict[str, int], tokens: bool, sub_window: float
) -> None:
    """Every (t-60, t] holds <= limit and every (t-S, t] <= ceil(limit*S/60); no more refused."""
    clock = Clock()
    limiter = make("rolling", clock, sub_window=sub_window, **limits)
    events = _drive(limiter, clock, limits, tokens, 200)
    limit = _limit(limits)
    assert window_max(events, 60, tokens=tokens) <= limit
    assert window_max(events, sub_window, tokens=tokens) <= math.ceil(limit * sub_window / 60)
    # A client honouring retry-after gets (nearly) the whole allowance; token costs of up
    # to 40 % of a 1 s share leave gaps no waiting can fill.
    assert _admitted(events, tokens) >= (0.8 if tokens else 0.95) * limit * 200 / 60


@pytest.mark.parametrize(
    ("algorithm", "period", "share"), [("fixed_minute", 60, 1), ("fixed_10s", 10, 6)]
)
@pytest.mark.parametrize(("limits", "tokens"), DIMENSIONS)
def test_fixed_windows_are_aligned_to_the_clock(
    limits: dict[str, int], tokens: bool, algorithm: str, period: float, share: int
) -> None:
    """Each clock-aligned window [kP, (k+1)P) of UNIX time admits at most its limit."""
    clock = Clock()
    limiter = make(algorithm, clock, **limits)
    events = _drive(limiter, clock, limits, tokens, 200)
    limit = math.ceil(_limit(limits) / share)
    offset = WALL_AT_START - 500.0
    assert per_fixed_window(events, period, offset, tokens=tokens) <= limit
    windows = 200 / period
    assert _admitted(events, tokens) >= 0.9 * limit * windows


@pytest.mark.parametrize(("limits", "tokens"), DIMENSIONS)
def test_gcra_never_exceeds_burst_plus_rate(limits: dict[str, int], tokens: bool) -> None:
    """Any interval t admits at most burst + t/T (burst = one second of the rate)."""
    clock = Clock()
    events = _drive(make("gcra", clock, **limits), clock, limits, tokens, 150)
    limit = _limit(limits)
    assert bucket_excess(events, limit / 60, tokens=tokens) <= math.ceil(limit / 60) + 1e-6
    assert _admitted(events, tokens) >= 0.97 * limit * 150 / 60


def test_concurrency_limit_never_exceeds_its_slots() -> None:
    """A client keeping 12 requests open against a limit of 5 never has more than 5 admitted."""
    clock = Clock()
    limiter = make("concurrency", clock, concurrency=5)
    rng = random.Random(3)
    open_slots: list[tuple[float, Any]] = []
    most = admitted = refused = 0
    for _ in range(3000):
        clock.now += rng.uniform(0.0, 0.02)
        for end, verdict in [o for o in open_slots if o[0] <= clock.now]:
            verdict.release()
            open_slots.remove((end, verdict))
        for _ in range(12 - len(open_slots)):
            verdict = limiter.admit("key", 0)
            if verdict.admitted:
                admitted += 1
                open_slots.append((clock.now + rng.uniform(0.01, 0.1), verdict))
            else:
                refused += 1
                assert verdict.retry_after > 0
        most = max(most, len(open_slots))
    assert most == 5 and admitted > 1000 and refused > 0


def test_daily_budget_is_a_day_long_bucket_with_tokens_per_minute() -> None:
    """rpd=1440 over three simulated days: any interval t admits <= 1440 + t*1440/86400."""
    clock = Clock()
    limiter = make("daily", clock, rpd=1440)
    events = drive(limiter, clock, rate=1.5 * 1440 / 86_400, seconds=3 * 86_400)
    assert bucket_excess(events, 1440 / 86_400, tokens=False) <= 1440 + 1e-6
    assert window_max(events, 86_400, tokens=False) <= 2 * 1440
    assert len(events) >= 0.97 * 1440 * 4
    tokens = make("daily", Clock(), rpd=14_400, tpm=6_000)
    assert tokens.admit("k", 100).admitted
    refused = tokens.admit("k", 100)
    assert not refused.admitted and refused.dimension == "tokens"
    headers = dict(tokens.admit("k", 0).headers)
    assert headers[b"x-ratelimit-limit-requests"] == b"14400"
    # Two requests admitted (the refused one is free): each refills in 86400/14400 = 6 s.
    assert headers[b"x-ratelimit-reset-requests"] == b"12s"


def test_refused_requests_can_use_quota() -> None:
    """With refused_use_quota, a hammering client pushes its own next admission out."""
    waits = []
    for charged in (False, True):
        clock = Clock()
        limiter = make("rolling", clock, rpm=60, refused_use_quota=charged)
        assert limiter.admit("k", 0).admitted
        for _ in range(5):
            clock.now += 0.1
            assert not limiter.admit("k", 0).admitted
        clock.now = 501.0
        waits.append(limiter.admit("k", 0).admitted)
    assert waits == [True, False]


def test_refusal_reports_remaining_zero_for_the_refusing_dimension() -> None:
    """The tokens dimension refused: remaining-tokens 0, remaining-requests still counts."""
    clock = Clock()
    limiter = make("rolling", clock, rpm=600, tpm=6_000)
    assert limiter.admit("k", 90).admitted
    headers = dict(limiter.admit("k", 90).headers)
    assert headers[b"x-ratelimit-remaining-tokens"] == b"0"
    assert headers[b"x-ratelimit-remaining-requests"] == b"599"


def test_retry_after_styles() -> None:
    """Whole seconds rounded up (min 1), milliseconds, an HTTP date, or nothing."""
    assert retry_after_headers("seconds", 0.02, 0) == [(b"retry-after", b"1")]
    assert retry_after_headers("seconds", 2.01, 0) == [(b"retry-after", b"3")]
    assert retry_after_headers("ms", 0.0201, 0) == [(b"retry-after-ms", b"21")]
    assert retry_after_headers("none", 5, 0) == []
    both = dict(retry_after_headers("seconds_and_ms", 1.5, 0))
    assert both == {b"retry-after": b"2", b"retry-after-ms": b"1500"}
    ((name, value),) = retry_after_headers("date", 1.2, WALL_AT_START)
    assert name == b"retry-after"
    when = email.utils.parsedate_to_datetime(value.decode()).timestamp()
    assert when == math.floor(WALL_AT_START) + 2


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"limiter": "token_bucket", "rpd": 10}, "sim.rpd"),
        ({"profile": "openai", "rpd": 10}, "sim.rpd"),
        ({"limiter": "concurrency", "tpm": 10}, "sim.rpm/sim.tpm"),
        ({"limiter": "rolling", "concurrency_limit": 3}, "sim.concurrency_limit"),
    ],
)
def test_limits_the_algorithm_ignores_are_refused(overrides: dict[str, Any], key: str) -> None:
    """A limit the chosen algorithm would silently ignore is a settings error naming it."""
    with pytest.raises(ValueError, match=key):
        SimSettings(**overrides)
