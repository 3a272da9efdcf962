"""Counters of one run, and the snapshot of them that progress, metrics and summary read."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from asyncgen.engine.lag import LagMonitor
from asyncgen.engine.plan import Planner
from asyncgen.jsontypes import JsonObject

if TYPE_CHECKING:
    from asyncgen.llm.stats import StatsSnapshot
    from asyncgen.llm.types import RunClient


@dataclass
class Tally:
    """Outcomes counted as their lines reach disk; `*_before` come from a resumed run."""

    target: int
    done_before: int = 0
    failed_before: int = 0
    rejected_before: int = 0
    dedup_before: int = 0
    done: int = 0
    failed: int = 0
    rejected: int = 0
    dedup_rejects: int = 0
    reasons: Counter[str] = field(default_factory=Counter)

    def count_reason(self, key: str, limit: int = 50) -> None:
        """Count a failure or reject reason; past `limit` distinct reasons they pool as other."""
        if key not in self.reasons and len(self.reasons) >= limit:
            key = "other"
        self.reasons[key] += 1

    @property
    def done_total(self) -> int:
        """Records on disk, this session and before."""
        return self.done_before + self.done

    @property
    def failed_total(self) -> int:
        """Failure lines on disk."""
        return self.failed_before + self.failed

    @property
    def rejected_total(self) -> int:
        """Reject lines on disk."""
        return self.rejected_before + self.rejected


@dataclass(frozen=True)
class Snapshot:
    """Everything the progress display and a metrics line show, at one moment."""

    elapsed: float
    target: int
    done: int
    session_done: int
    failed: int
    rejected: int
    in_flight: int
    records_per_s: float
    requests_per_s: float
    rpm: float
    tpm: float
    rpm_limit: float | None
    tpm_limit: float | None
    requests: int
    rate_limited: int
    retries: int
    latency_p50: float
    latency_p95: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    projected_cost: float | None
    eta_s: float | None
    model_mix: dict[str, int]
    lag_p99_ms: float
    batch: JsonObject | None = None
    diversity: JsonObject | None = None  # the diversity watch's last window (issue 22)

    @property
    def success_rate(self) -> float:
        """Records among the items that ended this session."""
        ended = self.session_done + self.failed + self.rejected
        return self.session_done / ended if ended else 1.0


def transport_stats(client: RunClient) -> StatsSnapshot:
    """The transport's counters ({} for a client that counts nothing)."""
    return client.stats.snapshot()


def _total(value: Any) -> int:
    """A count that the transport may report as a number or as a dict by cause."""
    if isinstance(value, dict):
        return int(sum(v for v in value.values() if isinstance(v, int | float)))
    return int(value or 0)


def _eta(remaining: int, rate: float) -> float | None:
    """Seconds left at the recent rate: 0 when done, None while nothing finishes."""
    if remaining <= 0:
        return 0.0
    return remaining / rate if rate > 0 else None


class Sampler:
    """Builds snapshots; keeps a rolling window of counts for rates and the ETA."""

    def __init__(
        self,
        tally: Tally,
        planner: Planner,
        client: RunClient,
        lag: LagMonitor,
        clock: Callable[[], float],
        window: float = 60.0,
        run_cost: Callable[[], float] | None = None,
    ) -> None:
        self.tally = tally
        self._run_cost = run_cost
        self.diversity: Callable[[], JsonObject | None] | None = None
        self.planner = planner
        self.client = client
        self.lag = lag
        self._clock = clock
        self._start = clock()
        self._window = window
        self._samples: deque[tuple[float, int, int, int]] = deque()
        stats = transport_stats(client)
        tokens = int(stats.get("tokens_in", 0)) + int(stats.get("tokens_out", 0))
        self._samples.append((self._start, tally.done, int(stats.get("requests", 0)), tokens))

    def sample(self) -> Snapshot:
        """Read every counter now."""
        now = self._clock()
        stats = transport_stats(self.client)
        tokens_in, tokens_out = int(stats.get("tokens_in", 0)), int(stats.get("tokens_out", 0))
        requests = int(stats.get("requests", 0))
        rates = self._rates(now, self.tally.done, requests, tokens_in + tokens_out)
        return self._build(now, stats, rates, requests, tokens_in, tokens_out)

    def _rates(self, now: float, done: int, requests: int, tokens: int) -> tuple[float, ...]:
        """Records/s, requests/s and tokens/s over the rolling window."""
        self._samples.append((now, done, requests, tokens))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self._window:
            self._samples.popleft()
        t0, d0, r0, k0 = self._samples[0]
        span = now - t0
        if span <= 0:
            return (0.0, 0.0, 0.0)
        return ((done - d0) / span, (requests - r0) / span, (tokens - k0) / span)

    def _build(
        self,
        now: float,
        stats: StatsSnapshot,
        rates: tuple[float, ...],
        requests: int,
        tokens_in: int,
        tokens_out: int,
    ) -> Snapshot:
        tally = self.tally
        records_rate, request_rate, token_rate = rates
        remaining = max(0, tally.target - tally.done_total)
        return Snapshot(
            elapsed=now - self._start,
            target=tally.target,
            done=tally.done_total,
            session_done=tally.done,
            failed=tally.failed,
            rejected=tally.rejected,
            in_flight=self.planner.in_flight,
            records_per_s=records_rate,
            requests_per_s=request_rate,
            rpm=request_rate * 60,
            tpm=token_rate * 60,
            rpm_limit=stats.get("rpm_limit"),
            tpm_limit=stats.get("tpm_limit"),
            requests=requests,
            rate_limited=_total(stats.get("rate_limited")),
            retries=_total(stats.get("retries")),
            latency_p50=float(stats.get("latency_p50") or 0.0),
            latency_p95=float(stats.get("latency_p95") or 0.0),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost_usd=(self._run_cost() if self._run_cost else float(stats.get("cost_usd") or 0.0)),
            projected_cost=self._projected(tally),
            eta_s=_eta(remaining, records_rate),
            model_mix=dict(stats.get("model_mix") or {}),
            lag_p99_ms=self.lag.total.percentile(0.99) * 1000,
            batch=stats.get("batch"),
            diversity=self.diversity() if self.diversity is not None else None,
        )

    def _projected(self, tally: Tally) -> float | None:
        """The transport's projection of the whole run's cost, when it offers one."""
        if tally.done == 0:
            return None
        remaining = max(0, tally.target - tally.done_before)
        projected = self.client.projected_cost(tally.done, remaining)
        if projected is None:
            return None
        earlier = 0.0
        if self._run_cost is not None:  # the run's cost so far, less this session's
            earlier = self._run_cost() - float(transport_stats(self.client).get("cost_usd") or 0.0)
        return earlier + float(projected)
