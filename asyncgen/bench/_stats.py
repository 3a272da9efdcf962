"""Per-step statistics: rates over the measured window, latency percentiles, goodput.

Rates divide by the window in which the counted requests were sent, so at steady state
they equal the completion rate; failures stay in every count (never dropped).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from asyncgen.bench._sample import LimitSample, Sample

PERCENTILES = (50, 90, 99)
_RAW = frozenset({"samples", "limits_trace"})  # per-request detail kept out of bench.json
MIN_SPAN_SAMPLES = 3


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def distribution(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p90/p99, mean, min and max of a list of seconds (all None when empty)."""
    out: dict[str, float | None] = {f"p{q}": percentile(values, q) for q in PERCENTILES}
    out["mean"] = sum(values) / len(values) if values else None
    out["min"] = min(values) if values else None
    out["max"] = max(values) if values else None
    return out


@dataclass
class StepStats:
    """Everything one step measured; `x` is its concurrency or offered rate."""

    profile: str
    x: float
    arrivals: str
    window_seconds: float
    requests: int
    successes: int
    rate_limited: int
    errors: dict[str, int]
    requests_per_s: float
    success_per_s: float
    input_tokens_per_s: float
    output_tokens_per_s: float
    reserved_tokens_per_s: float
    latency: dict[str, float | None]
    ttft: dict[str, float | None]
    itl: dict[str, float | None]
    goodput_per_s: float | None
    goodput_fraction: float | None
    retry_after: dict[str, Any]
    client_wait: dict[str, float | None] = field(default_factory=dict)
    warmup_requests: int = 0
    max_in_flight: int = 0
    remaining_requests_slope: float | None = None
    remaining_tokens_slope: float | None = None
    superseded: bool = False
    notes: list[str] = field(default_factory=list)
    phase: str = ""
    over_saturated: bool = False
    send_lag_p99: float | None = None
    send_lag_max: float | None = None  # the latest send: a paused client (GC, a busy box)
    samples: list[Sample] = field(default_factory=list, repr=False)
    limits_trace: list[LimitSample] = field(default_factory=list, repr=False)

    @property
    def failures(self) -> int:
        """Every request that did not succeed, 429s included."""
        return self.requests - self.successes

    @property
    def rate_limited_fraction(self) -> float:
        """Share of the step's requests answered with 429."""
        return self.rate_limited / self.requests if self.requests else 0.0

    @property
    def other_error_fraction(self) -> float:
        """Share of the step's requests that failed for any reason but a 429."""
        return (self.failures - self.rate_limited) / self.requests if self.requests else 0.0

    @property
    def error_fraction(self) -> float:
        """Share of the step's requests that failed for any reason."""
        return self.failures / self.requests if self.requests else 0.0

    @property
    def tokens_per_min(self) -> float:
        """Input plus output tokens of successful requests, per minute."""
        return (self.input_tokens_per_s + self.output_tokens_per_s) * 60.0

    @property
    def sustained_share(self) -> float:
        """Share of this step's rate the endpoint can keep up for good (1.0: no drain seen).

        An endpoint with a per-minute bucket admits a rate above its limit until the
        bucket empties; the falling ``x-ratelimit-remaining-*`` headers show it. The
        drain rate over the consumption rate is the share that is borrowed, not earned.
        """
        share = 1.0
        drains = (
            (self.remaining_requests_slope, self.success_per_s),
            (self.remaining_tokens_slope, self.reserved_tokens_per_s),
        )
        for slope, used in drains:
            if slope is not None and slope < 0 and used > 0:
                share = min(share, max(0.0, 1.0 + slope / used))
        return share

    @property
    def reserved_tokens_per_min(self) -> float:
        """Prompt tokens plus requested max_tokens of successful requests, per minute."""
        return self.reserved_tokens_per_s * 60.0

    @property
    def sustained_success_per_s(self) -> float:
        """Successful requests/s this step shows the endpoint can sustain indefinitely."""
        return self.success_per_s * self.sustained_share

    @property
    def sustained_tokens_per_min(self) -> float:
        """Used tokens/min this step shows the endpoint can sustain indefinitely."""
        return self.tokens_per_min * self.sustained_share

    @property
    def sustained_reserved_tokens_per_min(self) -> float:
        """Reserved (TPM-limit) tokens/min this step shows the endpoint can sustain."""
        return self.reserved_tokens_per_min * self.sustained_share

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the derived fractions alongside the counts."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _RAW}
        data["notes"] = list(self.notes)
        data["failures"] = self.failures
        data["rate_limited_fraction"] = self.rate_limited_fraction
        data["error_fraction"] = self.error_fraction
        data["requests_per_min"] = self.requests_per_s * 60.0
        data["success_per_min"] = self.success_per_s * 60.0
        data["tokens_per_min"] = self.tokens_per_min
        data["sustained_share"] = self.sustained_share
        data["sustained_success_per_min"] = self.sustained_success_per_s * 60.0
        data["sustained_tokens_per_min"] = self.sustained_tokens_per_min
        data["reserved_tokens_per_min"] = self.reserved_tokens_per_min
        data["sustained_reserved_tokens_per_min"] = self.sustained_reserved_tokens_per_min
        return data


def summarise(
    samples: Sequence[Sample],
    *,
    profile: str,
    x: float,
    arrivals: str,
    window_seconds: float,
    latency_target: float | None = None,
) -> StepStats:
    """Reduce a step's samples (those sent inside its window) to its statistics.

    Rates are the measured send rate times per-request shares, so a short window with a
    few requests is not quantised to whole requests per window.
    """
    window = 1.0 / send_rate(samples, window_seconds) if samples else max(window_seconds, 1e-9)
    window *= len(samples) or 1  # seconds that `samples` represent at the measured rate
    ok = [s for s in samples if s.is_ok]
    errors = Counter(s.kind for s in samples if not s.is_ok)
    latencies = [s.latency for s in ok]
    good = None if latency_target is None else sum(1 for v in latencies if v <= latency_target)
    return StepStats(
        profile=profile,
        x=x,
        arrivals=arrivals,
        window_seconds=window_seconds,
        requests=len(samples),
        successes=len(ok),
        rate_limited=sum(1 for s in samples if s.is_rate_limited),
        errors=dict(sorted(errors.items())),
        requests_per_s=len(samples) / window,
        success_per_s=len(ok) / window,
        input_tokens_per_s=sum(s.prompt_tokens for s in ok) / window,
        output_tokens_per_s=sum(s.completion_tokens for s in ok) / window,
        reserved_tokens_per_s=sum(s.reserved_tokens for s in ok) / window,
        latency=distribution(latencies),
        ttft=distribution([s.ttft for s in ok if s.ttft is not None]),
        itl=distribution(list(_flatten(s.itl for s in ok))),
        goodput_per_s=None if good is None else good / window,
        goodput_fraction=None if good is None or not samples else good / len(samples),
        retry_after=retry_after_summary([s.retry_after for s in samples if s.is_rate_limited]),
        client_wait=distribution([s.client_wait for s in ok]),
    )


def send_rate(samples: Sequence[Sample], window_seconds: float) -> float:
    """Requests/s from the send times: (n - 1) over the span from first to last send.

    Falls back to n over the window when there are too few sends, or they are bunched.
    """
    n = len(samples)
    fallback = n / max(window_seconds, 1e-9)
    if n < MIN_SPAN_SAMPLES:
        return fallback
    starts = [s.start for s in samples]
    span = max(starts) - min(starts)
    if span < window_seconds / 2:
        return fallback
    return (n - 1) / span


def slope(points: Sequence[tuple[float, float]], min_points: int = 5) -> float | None:
    """Least-squares slope (units per second) of (time, value) points; None if too few."""
    if len(points) < min_points:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var <= 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var


def remaining_slopes(
    trace: Sequence[LimitSample], start: float, end: float
) -> tuple[float | None, float | None]:
    """How fast the endpoint's remaining requests and tokens fell within [start, end]."""
    inside = [p for p in trace if start <= p.at <= end]
    requests = [
        (p.at, float(p.info.remaining_requests))
        for p in inside
        if p.info.remaining_requests is not None
    ]
    tokens = [
        (p.at, float(p.info.remaining_tokens))
        for p in inside
        if p.info.remaining_tokens is not None
    ]
    return slope(requests), slope(tokens)


def retry_after_summary(values: Sequence[float | None]) -> dict[str, Any]:
    """How many 429s advised a wait, the spread of the advice, and a histogram of it."""
    given = [v for v in values if v is not None]
    hist = Counter(_bucket(v) for v in given)
    return {
        "count": len(values),
        "with_header": len(given),
        **distribution(given),
        "histogram": dict(sorted(hist.items(), key=lambda kv: float(kv[0]))),
    }


def _bucket(seconds: float) -> str:
    """Round an advised wait to a readable bucket: 10 ms below 0.1 s, 0.1 s below 1 s, then 1 s."""
    if seconds < 0.1:
        return f"{round(seconds, 2):g}"
    return f"{round(seconds, 1):g}" if seconds < 1 else f"{round(seconds):g}"


def _flatten(groups: Iterable[Iterable[float]]) -> Iterable[float]:
    for group in groups:
        yield from group
