"""Run one benchmark step: closed-loop at a concurrency, or open-loop at a request rate.

A step applies load for `warmup_seconds` (not counted), then measures for `step_seconds`
or until `step_max_requests` have been sent, whichever comes first. Requests sent in the
window are awaited for up to `drain_seconds` after it; the rest are cancelled and counted
as "unfinished". Open-loop steps send at their arrival times without waiting for answers.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from asyncgen.bench._arrivals import arrivals, prefixed
from asyncgen.bench._sample import (
    CLIENT_LIMIT,
    RATE_LIMITED,
    UNFINISHED,
    LimitSample,
    Sample,
    classify,
    limit_dimension_of,
    retry_after_of,
)
from asyncgen.bench._stats import StepStats, percentile, remaining_slopes, summarise
from asyncgen.bench._workload import Workload
from asyncgen.config.bench import BenchSettings
from asyncgen.llm.types import ChatRequest

Clock = Callable[[], float]
StopWhen = Callable[[Sequence[Sample]], bool]
STOP_CHECK_SECONDS = 0.25  # how often an open-loop step asks its stop rule
CLIENT_WAIT_NOTE = 0.05  # seconds of in-client wait worth a note on the step
MAX_REST = 60.0  # seconds: never rest longer than this on a Retry-After's advice
Tasks = set[asyncio.Task[None]]


@dataclass(frozen=True)
class Reply:
    """What the endpoint gave back for one successful request."""

    prompt_tokens: int
    completion_tokens: int
    latency: float | None = None
    ttft: float | None = None
    itl: tuple[float, ...] = ()


class Probe(Protocol):
    """Sends one request once (no retries, no client-side limiter) and raises on failure."""

    async def send(self, request: ChatRequest) -> Reply:
        """One attempt; an `LLMError` subclass names the failure."""
        ...

    def take_limits_trace(self) -> list[LimitSample]:
        """The x-ratelimit-* headers seen since the last call."""
        ...

    def advertised(self) -> dict[str, Any]:
        """The limits the endpoint's headers advertise (empty when it sends none)."""
        ...


@dataclass(frozen=True)
class StepPlan:
    """One step: a concurrency (closed loop) or a rate in requests/s (open loop)."""

    profile: str
    concurrency: int | None = None
    rate: float | None = None
    poisson: bool = False
    seconds: float | None = None
    warmup: float | None = None
    cooldown: float | None = None
    phase: str = ""
    max_requests: int | None = None
    prefix_rate: float | None = None  # evenly paced at this rate for `prefix_seconds` first
    prefix_seconds: float = 0.0

    @property
    def x(self) -> float:
        """The step's position on the plot's x axis."""
        return float(self.concurrency if self.concurrency is not None else self.rate or 0.0)

    @property
    def arrivals(self) -> str:
        """The arrival process: closed, constant or poisson."""
        if self.concurrency is not None:
            return "closed"
        return "poisson" if self.poisson else "constant"


@dataclass
class StepProgress:
    """Live counters of the running step, read by the display."""

    plan: StepPlan | None = None
    sent: int = 0
    ok: int = 0
    rate_limited: int = 0
    errors: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    started_at: float = 0.0
    ends_by: float = 0.0


@dataclass
class _Window:
    """The measured window and the samples that fall in it."""

    t0: float
    deadline: float
    cap: int
    counted: list[Sample] = field(default_factory=list)
    warmup: int = 0
    started: int = 0
    t1: float | None = None
    last_kind: str = ""
    lags: list[float] = field(default_factory=list)

    def is_closed(self, due: float) -> bool:
        """True once the window has ended (by time or by request count)."""
        return self.t1 is not None or due >= self.deadline

    def admit(self, due: float) -> bool | None:
        """Whether a request due now is counted (True), warm-up (False) or too late (None)."""
        if self.t1 is not None or due >= self.deadline:
            self.t1 = self.t1 if self.t1 is not None else self.deadline
            return None
        if due < self.t0:
            return False
        self.started += 1
        if self.started >= self.cap:
            self.t1 = due
        return True


class StepRunner:
    """Runs steps against one probe with one workload; holds the live progress."""

    def __init__(
        self,
        probe: Probe,
        workload: Workload,
        settings: BenchSettings,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.probe = probe
        self.workload = workload
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random(settings.seed)
        self.progress = StepProgress()
        self.outlook: Callable[[], tuple[str, float | None]] | None = None
        self._rest_until = -math.inf
        self._ended = -math.inf

    async def prime(self) -> str:
        """Send one request and wait for it, so connections and a cold server are warm.

        Returns:
            The request's outcome kind ("ok", "429", …); it counts in no step.
        """
        window = _Window(t0=math.inf, deadline=math.inf, cap=1)
        await self._one(self.workload.next_request(), window, counted=False)
        self._rest_until = self.clock() + self.settings.cooldown_seconds
        return window.last_kind

    async def run(self, plan: StepPlan, stop: StopWhen | None = None) -> StepStats:
        """Rest after the previous step, apply the plan's load, measure it, reduce it.

        `plan.seconds`/`warmup`/`cooldown` override the settings for this step; `stop`,
        asked every `STOP_CHECK_SECONDS` with the samples so far, may end the window early.
        """
        await self._rest(plan.cooldown)
        s = self.settings
        seconds = s.step_seconds if plan.seconds is None else plan.seconds
        warmup = s.warmup_seconds if plan.warmup is None else plan.warmup
        now = self.clock()
        self.progress = StepProgress(plan=plan, started_at=now, ends_by=now + warmup + seconds)
        t0 = now + warmup
        cap = s.step_max_requests if plan.max_requests is None else plan.max_requests
        window = _Window(t0=t0, deadline=t0 + seconds, cap=cap)
        tasks: Tasks = set()
        self.probe.take_limits_trace()  # forget what the previous step left behind
        if plan.concurrency is not None:
            await self._closed(plan.concurrency, window, tasks, stop)
        else:
            await self._open(plan, window, tasks, stop)
        await self._drain(tasks)
        t1 = window.t1 if window.t1 is not None else self.clock()
        stats = summarise(
            window.counted,
            profile=plan.profile,
            x=plan.x,
            arrivals=plan.arrivals,
            window_seconds=max(t1 - t0, 1e-9),
            latency_target=s.latency_target,
        )
        stats.warmup_requests = window.warmup
        stats.max_in_flight = self.progress.max_in_flight
        stats.phase = plan.phase
        stats.send_lag_p99 = percentile(window.lags, 99)
        stats.send_lag_max = max(window.lags, default=None)
        if stats.send_lag_p99 is not None and stats.send_lag_p99 > CLIENT_WAIT_NOTE:
            stats.notes.append(
                f"the client sent late (p99 {stats.send_lag_p99 * 1000:.0f} ms behind "
                "schedule): the machine, not the endpoint, may have set this step's pace"
            )
        stats.samples = list(window.counted)
        trace = self.probe.take_limits_trace()
        stats.limits_trace = [p for p in trace if t0 <= p.at <= t1]
        slopes = remaining_slopes(trace, t0, t1)
        stats.remaining_requests_slope, stats.remaining_tokens_slope = slopes
        waited = stats.client_wait.get("max") or 0.0
        if waited > CLIENT_WAIT_NOTE:
            stats.notes.append(
                f"some answers waited up to {waited:.2f} s inside the client before being sent "
                "(the transport pauses sends after a 429); latency excludes that wait"
            )
        advised = min(stats.retry_after["max"] or 0.0, MAX_REST)
        self._ended = self.clock()
        self._rest_until = self._ended + max(s.cooldown_seconds, advised)
        return stats

    async def _rest(self, cooldown: float | None = None) -> None:
        """Wait out the cool-down, so one step's sends and 429 pauses do not leak into the next.

        A plan's own `cooldown` replaces the settings' and any Retry-After advice.
        """
        if cooldown is not None:
            self._rest_until = self._ended + cooldown
        delay = self._rest_until - self.clock()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _closed(
        self, concurrency: int, window: _Window, tasks: Tasks, until: StopWhen | None
    ) -> None:
        """`concurrency` workers, each sending its next request when the last one ends."""
        stop = asyncio.Event()
        asked = [self.clock()]

        async def worker() -> None:
            while not stop.is_set():
                now = self.clock()
                if until is not None and now - asked[0] >= STOP_CHECK_SECONDS:
                    asked[0] = now
                    if until(window.counted):
                        window.t1 = now
                admitted = window.admit(now)
                if admitted is None:
                    stop.set()
                    return
                await self._one(self.workload.next_request(), window, counted=admitted)

        tasks.update(asyncio.create_task(worker()) for _ in range(concurrency))
        remaining = max(window.deadline - self.clock(), 0.0)
        waiter = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({waiter, *tasks}, timeout=remaining, return_when="FIRST_COMPLETED")
        finally:
            waiter.cancel()
        stop.set()
        window.admit(window.deadline)  # closes the window at the deadline if nothing else did

    async def _open(
        self, plan: StepPlan, window: _Window, tasks: Tasks, until: StopWhen | None
    ) -> None:
        """Send at the schedule's arrival times; never wait for an answer before the next send."""
        assert plan.rate is not None
        start = self.progress.started_at
        asked = start
        schedule = arrivals(plan.rate, poisson=plan.poisson, rng=self.rng)
        if plan.prefix_rate is not None:
            schedule = prefixed(plan.prefix_rate, plan.prefix_seconds, plan.rate)
        for offset in schedule:
            due = start + offset
            if until is not None and due - asked >= STOP_CHECK_SECONDS:
                asked = due
                if due > window.t0 and until(window.counted):
                    window.t1 = due
            if window.is_closed(due):
                window.admit(due)
                return
            delay = due - self.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            window.lags.append(self.clock() - due)
            admitted = window.admit(due)
            if admitted is None:
                return
            if self.progress.in_flight >= self.settings.max_concurrency:
                self._record(Sample(start=due, latency=0.0, kind=CLIENT_LIMIT), window, admitted)
                continue
            task = asyncio.create_task(self._one(self.workload.next_request(), window, admitted))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _one(self, request: ChatRequest, window: _Window, counted: bool) -> None:
        """Send one request and record exactly one sample for it, whatever happens."""
        p = self.progress
        p.sent += 1
        p.in_flight += 1
        p.max_in_flight = max(p.max_in_flight, p.in_flight)
        start = self.clock()
        try:
            reply = await self.probe.send(request)
        except asyncio.CancelledError:
            self._record(Sample(start, self.clock() - start, UNFINISHED), window, counted)
            raise
        except Exception as exc:  # every failure is a counted sample, by kind
            sample = Sample(
                start,
                self.clock() - start,
                classify(exc),
                retry_after=retry_after_of(exc),
                limit_dimension=limit_dimension_of(exc),
            )
            self._record(sample, window, counted)
        else:
            wall = self.clock() - start
            latency = wall if reply.latency is None else reply.latency
            sample = Sample(
                start,
                latency,
                client_wait=max(0.0, wall - latency),
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                reserved_tokens=reply.prompt_tokens
                + (request.max_tokens or reply.completion_tokens),
                ttft=reply.ttft,
                itl=reply.itl,
            )
            self._record(sample, window, counted)
        finally:
            p.in_flight -= 1

    def _record(self, sample: Sample, window: _Window, counted: bool) -> None:
        window.last_kind = sample.kind
        if not counted:
            window.warmup += 1
            return
        window.counted.append(sample)
        p = self.progress
        if sample.is_ok:
            p.ok += 1
        elif sample.kind == RATE_LIMITED:
            p.rate_limited += 1
        else:
            p.errors += 1

    async def _drain(self, tasks: Tasks) -> None:
        """Give answers in flight `drain_seconds`, then cancel (and so count) the rest."""
        pending = set(tasks)
        if not pending:
            return
        done, still = await asyncio.wait(pending, timeout=self.settings.drain_seconds)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)
        for task in done:
            task.result()  # a bug in a worker surfaces here rather than vanishing
