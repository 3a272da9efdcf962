"""What an endpoint admits once its limit binds: the estimator behind find-limit.

Every limiter a provider runs (token bucket, GCRA, rolling or fixed windows) admits at
most its burst plus the limit's rate over any interval, and exactly the limit's rate
once it binds, whatever the offered rate above it. A step offered a little more than
the limit therefore admits the limit, but only after its burst is spent: counting from
the step's start credits the burst (a token bucket's full minute, a window's unused
share), which is how a short step overstates a limit and a remaining-header "drain"
misread understates it.

So the count starts and ends at *phase points*: an admitted request that follows a 429
in send order, a moment when the limiter has just run dry. Between two such points the
limiter started and ended empty, so what it admitted in between is what it refilled:
the limit's rate times the span, to within one request at each end (a fixed window's
points are one window apart, so whole windows are counted). The burst admitted before
the first point is reported separately as the correction that was left out. The rate is
the least-squares slope of the count through every point between, so that no single
point's send time, which a busy client shifts by tens of milliseconds, sets it alone.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from asyncgen.bench._sample import Sample

MIN_REFUSALS = 10  # 429s needed before a concurrency pattern is believed


@dataclass(frozen=True)
class Saturation:
    """The admitted rate through the phase points of one step."""

    rate: float | None
    admitted: int
    span: float
    phase_points: int
    first_point: float | None
    burst: float
    refused: int
    offered: float = 0.0
    longest_refusal: float = 0.0  # seconds: the longest run of consecutive 429s

    @property
    def precision(self) -> float | None:
        """Relative uncertainty from the ±1 request at each end of the count."""
        if self.rate is None or self.admitted <= 0:
            return None
        return 2.0 / self.admitted

    def to_dict(self) -> dict[str, float | int | None]:
        """The figures, for bench.json."""
        return {
            "admitted_per_s": self.rate,
            "admitted_between_points": self.admitted,
            "span_s": self.span,
            "offered_per_s": self.offered,
            "phase_points": self.phase_points,
            "burst_requests_excluded": self.burst,
            "refused": self.refused,
            "longest_refusal_s": self.longest_refusal,
            "precision": self.precision,
        }


def phase_points(ordered: Sequence[Sample]) -> list[int]:
    """Indices of admitted requests that follow a 429 (the limiter just let one through).

    Right after such an admission the limiter is as empty as it gets: a bucket below
    one request, a sliding log full, a fixed window just opened (these points are its
    boundaries, so counts between them are whole windows, whatever came before).
    """
    return [
        i
        for i in range(1, len(ordered))
        if ordered[i].was_admitted and ordered[i - 1].is_rate_limited
    ]


def saturated_rate(samples: Sequence[Sample], offered: float = 0.0) -> Saturation:
    """Admitted requests per second between the step's first and last phase points.

    `burst` is what the step admitted before its first phase point beyond that rate:
    the limiter's stored allowance, left out of the estimate.
    """
    ordered = sorted(samples, key=lambda s: s.start)
    points = phase_points(ordered)
    refused = sum(1 for s in ordered if s.is_rate_limited)
    if len(points) < 2:
        first = ordered[points[0]].start if points else None
        return Saturation(None, 0, 0.0, len(points), first, 0.0, refused, offered)
    first, last = points[0], points[-1]
    t_first, t_last = ordered[first].start, ordered[last].start
    span = t_last - t_first
    admitted = sum(1 for s in ordered[first:last] if s.was_admitted)
    if span <= 0:
        return Saturation(None, admitted, 0.0, len(points), t_first, 0.0, refused, offered)
    rate = _slope(ordered, points) or admitted / span
    before = sum(1 for s in ordered[:first] if s.was_admitted)
    burst = max(0.0, before - rate * (t_first - ordered[0].start))
    longest = _longest_refusal(ordered[first:last])
    return Saturation(rate, admitted, span, len(points), t_first, burst, refused, offered, longest)


def window_count_rate(samples: Sequence[Sample], window: float) -> float | None:
    """The median count admitted in the `window` seconds before each 429, per second.

    A refusal means the limiter is full: a sliding log of that window holds exactly its
    limit then, and a bucket or GCRA that refused at both ends of the window admitted
    its refill in between. Unlike the admitted rate between phase points, this does not
    fall when the client stalls (a GC pause, a busy machine): a log's slots freed while
    nothing was sent go unused, and the bunch sent after the stall frees them again
    together a window later, so every stall costs admissions for seconds, not the count
    a full window holds. Refusals within the first window after the first phase point
    are skipped (the window still holds the burst).
    """
    ordered = sorted(samples, key=lambda s: s.start)
    points = phase_points(ordered)
    if not points:
        return None
    begin = ordered[points[0]].start + window
    admitted = [s.start for s in ordered if s.was_admitted]
    counts = [
        bisect.bisect_right(admitted, s.start) - bisect.bisect_right(admitted, s.start - window)
        for s in ordered
        if s.is_rate_limited and s.start >= begin
    ]
    if len(counts) < MIN_REFUSALS:
        return None
    return statistics.median(counts) / window


def _slope(ordered: Sequence[Sample], points: Sequence[int]) -> float | None:
    """Least-squares admissions per second through every phase point, not only the ends.

    Each point's count is exact to ±1 but its time is the client's send time, which a
    busy client or network shifts by tens of milliseconds; two ends alone carry that
    error whole (3 % on a 3 s step), a fit through every point averages it out.
    """
    if len(points) < 3:
        return None
    before = list(accumulate((s.was_admitted for s in ordered), initial=0))  # admitted in [:i]
    try:
        fit = statistics.linear_regression(
            [ordered[i].start for i in points], [before[i] for i in points]
        )
    except statistics.StatisticsError:  # every point at one instant
        return None
    return fit.slope if fit.slope > 0 else None


def _longest_refusal(ordered: Sequence[Sample]) -> float:
    """The longest stretch (seconds) of consecutive 429s in send order."""
    longest, began = 0.0, None
    for s in ordered:
        if s.is_rate_limited:
            began = s.start if began is None else began
            longest = max(longest, s.start - began)
        else:
            began = None
    return longest


def named_dimension(samples: Sequence[Sample]) -> str | None:
    """The dimension most 429s named in their message ("requests", "tokens", …)."""
    named = Counter(s.limit_dimension for s in samples if s.is_rate_limited and s.limit_dimension)
    return named.most_common(1)[0][0] if named else None


def in_flight_at_sends(samples: Sequence[Sample]) -> list[tuple[Sample, int]]:
    """Each sample with the number of admitted requests still open when it was sent."""
    starts = sorted(s.start for s in samples if s.was_admitted)
    ends = sorted(s.start + s.latency for s in samples if s.was_admitted)
    return [
        (s, bisect.bisect_left(starts, s.start) - bisect.bisect_right(ends, s.start))
        for s in samples
    ]


def concurrency_cap(samples: Sequence[Sample]) -> int | None:
    """The in-flight count that separates admissions from 429s, when one does.

    A concurrency limit refuses a request only when as many as it allows are already
    open; a rate limit refuses whatever is open. The cap is one above what nearly every
    admitted request met (99th percentile: the client sees an answer end a little after
    the server freed its slot); it counts when nearly every 429 met at least that many
    less one.
    """
    pairs = in_flight_at_sends(samples)
    at_refusal = sorted(n for s, n in pairs if s.is_rate_limited)
    at_admission = sorted(n for s, n in pairs if s.was_admitted)
    if len(at_refusal) < MIN_REFUSALS or not at_admission:
        return None
    cap = at_admission[min(len(at_admission) - 1, int(len(at_admission) * 0.99))] + 1
    below = sum(1 for n in at_refusal if n < cap - 1)
    return cap if cap > 1 and below <= 0.05 * len(at_refusal) else None
