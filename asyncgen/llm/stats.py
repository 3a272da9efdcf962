"""Counters for progress, metrics and benchmarks: cheap to update, a dict on demand."""

from __future__ import annotations

import bisect
from collections import Counter, deque
from collections.abc import Callable
from typing import TypedDict

from asyncgen.jsontypes import JsonObject

LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
RATE_WINDOW = 10  # seconds over which requests_per_s is measured


class LimiterSnapshot(TypedDict):
    """One limiter's state (`RateLimiter.snapshot`), per route in `StatsSnapshot.limiters`."""

    rpm_limit: int | None
    tpm_limit: int | None
    input_tpm_limit: int | None
    output_tpm_limit: int | None
    daily_requests_left: int | None
    send_rpm: float | None
    margin: float
    learned_rpm: float | None
    rate_events: int
    window: int
    waiting: int
    adaptive: bool
    paused_for: float
    pauses: int
    fault_share: float


class StatsSnapshot(TypedDict, total=False):
    """A client's counters as the engine, the metrics endpoint and summary.json read them.

    `TransportStats` fills the first group; the transport adds usage, limits and the
    model mix; batch mode adds its usage and progress; a cluster adds `workers`.
    """

    requests: int
    attempts: int
    successes: int
    failures: dict[str, int]
    retries: dict[str, int]
    rate_limited: int
    in_flight: int
    latency_p50: float | None
    latency_p95: float | None
    latency_histogram: dict[str, int]
    requests_per_s: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    budget_exhausted: bool
    rpm_limit: int | None
    tpm_limit: int | None
    concurrency_limit: int
    concurrency_cap: int
    model_mix: dict[str, int]
    usage_by_model: dict[str, object]
    usage_by_model_batch: dict[str, object]
    limiters: dict[str, LimiterSnapshot]
    batch: JsonObject | None
    workers: int


class TransportStats:
    """Requests, outcomes by cause, latency histogram and recent throughput."""

    def __init__(
        self, clock: Callable[[], float], extra: Callable[[], StatsSnapshot] | None = None
    ):
        self._clock = clock
        self._extra = extra
        self.requests = 0
        self.attempts = 0
        self.successes = 0
        self.rate_limited = 0
        self.in_flight = 0
        self.failures: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.histogram = [0] * (len(LATENCY_BOUNDS) + 1)
        self._recent: deque[float] = deque(maxlen=4096)
        self._per_second: deque[list[int]] = deque(maxlen=RATE_WINDOW + 1)
        self.started = clock()

    def record_latency(self, seconds: float) -> None:
        """One successful attempt's latency."""
        self.histogram[bisect.bisect_left(LATENCY_BOUNDS, seconds)] += 1
        self._recent.append(seconds)

    def record_done(self) -> None:
        """One request finished (either way): feeds requests_per_s."""
        second = int(self._clock())
        if self._per_second and self._per_second[-1][0] == second:
            self._per_second[-1][1] += 1
        else:
            self._per_second.append([second, 1])

    def requests_per_s(self) -> float:
        """Finished requests per second over the last complete seconds."""
        now = int(self._clock())
        done = sum(n for sec, n in self._per_second if now - RATE_WINDOW <= sec < now)
        span = min(RATE_WINDOW, max(1, now - int(self.started)))
        return done / span

    def latency_quantile(self, q: float) -> float | None:
        """The q-quantile of the most recent latencies, or None before the first success."""
        if not self._recent:
            return None
        ordered = sorted(self._recent)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def snapshot(self) -> StatsSnapshot:
        """Every counter as a plain dict (JSON-ready)."""
        p50, p95 = self.latency_quantile(0.5), self.latency_quantile(0.95)
        data: StatsSnapshot = {
            "requests": self.requests,
            "attempts": self.attempts,
            "successes": self.successes,
            "failures": dict(self.failures),
            "retries": dict(self.retries),
            "rate_limited": self.rate_limited,
            "in_flight": self.in_flight,
            "latency_p50": None if p50 is None else round(p50, 4),
            "latency_p95": None if p95 is None else round(p95, 4),
            "latency_histogram": self._histogram_dict(),
            "requests_per_s": round(self.requests_per_s(), 2),
        }
        if self._extra is not None:
            data.update(self._extra())
        return data

    def _histogram_dict(self) -> dict[str, int]:
        labels = [f"<={b:g}s" for b in LATENCY_BOUNDS] + [f">{LATENCY_BOUNDS[-1]:g}s"]
        return {label: n for label, n in zip(labels, self.histogram, strict=True) if n}
