"""One rate limiter per (endpoint, model), shared by every task that calls that model.

Four gates, in order: the adaptive concurrency window (AIMD, only while no limit is
known), the transport's global concurrency cap, a pause after a 429, then the RPM and
TPM token buckets. Buckets are paced FIFO by one lock so a send happens the moment its
budget is there, never in bursts larger than `burst_seconds` of the limit: endpoints
enforce a per-minute limit pro rata over short windows, not as a one-minute allowance.
The default (one second) mirrors an OpenAI-style token bucket quantized per second, so an
idle endpoint's second's share goes at once and a saturated client paces at the rate.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from asyncgen.config.llm import LimitSettings
from asyncgen.llm.bucket import TokenBucket
from asyncgen.llm.budget import BudgetSource
from asyncgen.llm.headers import RateLimitInfo
from asyncgen.llm.retry import FaultRate
from asyncgen.llm.window import PriorityLock, Window

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_PAUSE = 1.0
RECENT_WINDOW = 1.0  # seconds of sends remembered while no request limit is known
RAMP_FLOOR = 0.5  # share of the rate allowed right after a pause


@dataclass
class Permit:
    """What one send reserved, so its release can refund and correct."""

    seq: int
    prompt_tokens: int
    completion_tokens: int
    sent_at: float
    claim: Hashable = None

    @property
    def tokens(self) -> int:
        """Total reserved tokens."""
        return self.prompt_tokens + self.completion_tokens


class RateLimiter:
    """RPM/TPM buckets, 429 pause and ramp, header learning and AIMD for one model endpoint."""

    def __init__(
        self,
        settings: LimitSettings,
        *,
        slots: asyncio.Semaphore | None = None,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        name: str = "",
        budget: BudgetSource | None = None,
    ) -> None:
        self.name = name
        self._budget = budget
        self._settings = settings
        self._slots = slots
        self._clock = clock
        self._sleep = sleep
        self._learned_rpm: int | None = None
        self._learned_tpm: int | None = None
        self._requests: TokenBucket | None = None
        self._tokens: TokenBucket | None = None
        self._pace = PriorityLock()
        self._paused_until = -math.inf
        self._ramp_from = -math.inf
        self._seq = 0
        self._recent_sends: deque[tuple[float, int]] = deque(maxlen=4096)
        self._aimd = Aimd(settings)
        self.window = Window(
            self._aimd.initial if self.is_adaptive else settings.concurrency, settings.concurrency
        )
        self.pauses = 0
        self.faults = FaultRate()
        self._reshape()

    # -- what is known -------------------------------------------------------------

    @property
    def rpm_limit(self) -> int | None:
        """The requests-per-minute limit in force (configured or learned, the tighter)."""
        return _tighter(self._settings.rpm, self._learned_rpm)

    @property
    def tpm_limit(self) -> int | None:
        """The tokens-per-minute limit in force (configured or learned, the tighter)."""
        return _tighter(self._settings.tpm, self._learned_tpm)

    @property
    def is_adaptive(self) -> bool:
        """True while AIMD sizes the window: adaptive on and no rate limit known."""
        return self._settings.adaptive and self.rpm_limit is None and self.tpm_limit is None

    @property
    def needs_token_estimate(self) -> bool:
        """True when a TPM bucket is active or may be learned: callers then estimate tokens."""
        return (
            self._tokens is not None
            or self._settings.learn_from_headers
            or self._budget is not None
        )

    @property
    def paused_for(self) -> float:
        """Seconds the bucket stays paused after a 429 (0 when running)."""
        return max(0.0, self._paused_until - self._clock())

    # -- acquire / release -------------------------------------------------------------

    async def acquire(
        self, prompt_tokens: int = 0, completion_tokens: int = 0, *, urgent: bool = False
    ) -> Permit:
        """Wait until one request with this token estimate may be sent, then reserve it.

        Args:
            prompt_tokens: estimated prompt tokens (reserved in the TPM bucket).
            completion_tokens: tokens reserved for the answer (max_tokens or an estimate).
            urgent: a retry: served before first attempts waiting for the same budget.
        """
        await self.window.acquire()
        claim: Hashable = None
        try:
            if self._budget is not None:
                claim = await self._shared_budget(prompt_tokens, completion_tokens, urgent)
            else:
                await self._slot_and_budget(prompt_tokens + completion_tokens, urgent)
        except BaseException:
            self.window.release()
            raise
        self._seq += 1
        now = self._clock()
        if self._requests is None or self._tokens is None:
            self._recent_sends.append((now, prompt_tokens + completion_tokens))
        return Permit(self._seq, prompt_tokens, completion_tokens, now, claim)

    def release(
        self,
        permit: Permit,
        *,
        outcome: str,
        latency: float = 0.0,
        used_tokens: int | None = None,
        info: RateLimitInfo | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Give the slot back and learn from the outcome.

        Args:
            permit: what `acquire` returned.
            outcome: "ok", "rate_limited", "overloaded" (503), or any other failure cause.
            latency: seconds the attempt took.
            used_tokens: prompt + completion tokens from the response's usage, if known.
            info: the response's x-ratelimit-* headers.
            retry_after: the endpoint's retry-after advice, seconds.
        """
        if self._slots is not None:
            self._slots.release()
        self.window.release()
        if self._budget is not None:
            self._budget.settle(
                permit.claim,
                outcome=outcome,
                latency=latency,
                used_tokens=used_tokens,
                info=info,
                retry_after=retry_after,
            )
        now = self._clock()
        if info is not None and not info.is_empty and self._settings.learn_from_headers:
            self._learn(info, permit, now)
        self._refund(permit, outcome, used_tokens)
        self.faults.observe(outcome)
        if outcome == "rate_limited" and self._settings.pause_on_429:
            self.pause(retry_after)
        if self.is_adaptive:
            self._adapt(outcome, latency, now)

    def pause(self, seconds: float | None) -> None:
        """Stop every send through this limiter for `seconds`, then ramp back up."""
        now = self._clock()
        until = now + (DEFAULT_PAUSE if seconds is None else seconds)
        if until > self._paused_until:
            if self._paused_until < now:
                logger.info(
                    "%s: rate limited, pausing all sends for %.2f s", self.name, until - now
                )
            self._paused_until = until
            self._ramp_from = until
            self.pauses += 1
        for bucket in (self._requests, self._tokens):
            if bucket is not None:
                bucket.refill(now, self._ramp_factor(now))
                bucket.cap_level(0.0)

    def snapshot(self) -> dict[str, Any]:
        """Limits in force, window, queue and pauses, for metrics."""
        return {
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
            "window": self.window.size,
            "waiting": self.window.waiting,
            "adaptive": self.is_adaptive,
            "paused_for": round(self.paused_for, 3),
            "pauses": self.pauses,
            "fault_share": round(self.faults.value, 3),
        }

    # -- internals ---------------------------------------------------------------------

    async def _shared_budget(
        self, prompt_tokens: int, completion_tokens: int, urgent: bool
    ) -> Hashable:
        """Take a global slot, then the budget source's permission (it paces, not our buckets)."""
        assert self._budget is not None
        if self._slots is not None:
            await self._slots.acquire()
        try:
            return await self._budget.take(prompt_tokens, completion_tokens, urgent=urgent)
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    async def _slot_and_budget(self, tokens: int, urgent: bool) -> None:
        """Take a global slot, then wait (in pacing order) for the buckets to allow a send."""
        if self._slots is not None:
            await self._slots.acquire()
        try:
            if self._requests is not None or self._tokens is not None or self.paused_for > 0:
                await self._pace.acquire(urgent=urgent)
                try:
                    await self._wait_for_budget(tokens)
                finally:
                    self._pace.release()
        except BaseException:
            if self._slots is not None:
                self._slots.release()
            raise

    async def _wait_for_budget(self, tokens: int) -> None:
        while True:
            now = self._clock()
            if now < self._paused_until:
                await self._sleep(self._paused_until - now)
                continue
            factor = self._ramp_factor(now)
            wait = 0.0
            for bucket, amount in ((self._requests, 1), (self._tokens, tokens)):
                if bucket is not None:
                    bucket.refill(now, factor)
                    wait = max(wait, bucket.wait_time(amount, factor))
            if wait <= 1e-6:  # below clock resolution: sleeping would not advance time
                if self._requests is not None:
                    self._requests.take(1)
                if self._tokens is not None:
                    self._tokens.take(tokens)
                return
            await self._sleep(wait)

    def _ramp_factor(self, now: float) -> float:
        ramp = self._settings.resume_ramp_seconds
        if ramp <= 0 or now >= self._ramp_from + ramp:
            return 1.0
        if now <= self._ramp_from:
            return RAMP_FLOOR
        return RAMP_FLOOR + (1.0 - RAMP_FLOOR) * (now - self._ramp_from) / ramp

    def _reshape(self) -> None:
        now = self._clock()
        self._requests = self._shaped(self._requests, self.rpm_limit, now, tokens=False)
        self._tokens = self._shaped(self._tokens, self.tpm_limit, now, tokens=True)
        if not self.is_adaptive:
            self.window.set_limit(self._settings.concurrency)

    def _shaped(
        self, bucket: TokenBucket | None, per_minute: int | None, now: float, *, tokens: bool
    ) -> TokenBucket | None:
        if per_minute is None:
            return None
        rate = per_minute / 60.0
        capacity = max(1.0, rate * self._settings.burst_seconds)
        if bucket is None:
            ahead = self._ahead_of_pace(rate, now, tokens=tokens)
            return TokenBucket(rate, capacity, now, level=capacity - ahead)
        bucket.reshape(rate, capacity, now)
        return bucket

    def _ahead_of_pace(self, rate: float, now: float, *, tokens: bool) -> float:
        """Sends made before the limit was known beyond what `rate` allows: a debt to wait off."""
        recent = [(t, n) for t, n in self._recent_sends if t > now - RECENT_WINDOW]
        if not recent:
            return 0.0
        spent = sum(n for _, n in recent) if tokens else len(recent)
        # As if they all reached the endpoint with the last one: arrivals bunch on cold connections.
        return max(0.0, spent - rate * (now - recent[-1][0]))

    def _learn(self, info: RateLimitInfo, permit: Permit, now: float) -> None:
        changed = False
        if info.limit_requests and info.limit_requests != self._learned_rpm:
            self._learned_rpm, changed = info.limit_requests, True
        if info.limit_tokens and info.limit_tokens != self._learned_tpm:
            self._learned_tpm, changed = info.limit_tokens, True
        if changed:
            self._reshape()
            logger.info(
                "%s: limits from headers: %s RPM, %s TPM (in force: %s RPM, %s TPM)",
                self.name,
                self._learned_rpm,
                self._learned_tpm,
                self.rpm_limit,
                self.tpm_limit,
            )
        sent_since = self._seq - permit.seq
        if self._requests is not None and info.remaining_requests is not None:
            window = _Reading(info.limit_requests, info.remaining_requests, info.reset_requests)
            self._correct(self._requests, window, sent_since, permit, now)
        if self._tokens is not None and info.remaining_tokens is not None:
            window = _Reading(info.limit_tokens, info.remaining_tokens, info.reset_tokens)
            self._correct(self._tokens, window, sent_since * permit.tokens, permit, now)

    def _correct(
        self, bucket: TokenBucket, reading: _Reading, since: float, permit: Permit, now: float
    ) -> None:
        """Lower our level to the endpoint's, net of what we sent after this request.

        OpenAI-style buckets refill continuously (reset = time until full); a fixed-window
        endpoint refills all at once at reset, so until then only `remaining` is left.
        """
        bucket.refill(now, self._ramp_factor(now))
        elapsed = now - permit.sent_at
        left = reading.remaining - since
        to_reset = (reading.reset or 0.0) - elapsed
        if reading.is_fixed_window and to_reset > 0:
            estimate = left if left >= 1 else 1.0 - bucket.rate * to_reset
        else:
            estimate = left + bucket.rate * elapsed
        bucket.cap_level(estimate)

    def _refund(self, permit: Permit, outcome: str, used_tokens: int | None) -> None:
        if self._tokens is None or permit.tokens == 0:
            return
        if used_tokens is not None:
            self._tokens.give(permit.tokens - used_tokens)
        elif outcome == "rate_limited":
            self._tokens.give(permit.tokens)  # refused at the door: nothing was counted
        else:
            self._tokens.give(permit.completion_tokens)  # no answer was generated

    def _adapt(self, outcome: str, latency: float, now: float) -> None:
        limit = self._aimd.next_limit(self.window.limit, outcome, latency, now)
        if limit != self.window.limit:
            self.window.set_limit(limit)


@dataclass(frozen=True)
class _Reading:
    """One dimension of a response's x-ratelimit-* headers."""

    limit: int | None
    remaining: int
    reset: float | None

    @property
    def is_fixed_window(self) -> bool:
        """True when the reset is far too soon for a continuous refill at limit/60 per second."""
        if not self.limit or not self.reset:
            return False
        if self.limit - self.remaining < max(3.0, 0.05 * self.limit):
            return False  # too little used to tell; header rounding would mislead
        implied_rate = (self.limit - self.remaining) / self.reset
        return implied_rate > 1.5 * self.limit / 60.0


class Aimd:
    """Slow start, then additive increase per round trip; multiplicative decrease on 429, 503
    or rising latency (TCP's congestion control, applied to requests in flight)."""

    LATENCY_FACTOR = 2.0
    LATENCY_SLACK = 0.05

    def __init__(self, settings: LimitSettings) -> None:
        self.initial = float(min(settings.initial_concurrency, settings.concurrency))
        self._ewma: float | None = None
        self._baseline = math.inf
        self._samples = 0
        self._last_decrease = -math.inf
        self.slow_start = True

    def next_limit(self, limit: float, outcome: str, latency: float, now: float) -> float:
        """The window after one completed attempt."""
        if outcome in ("rate_limited", "overloaded"):
            return self._decrease(limit, 0.5, now)
        if outcome != "ok":
            return limit
        self._observe(latency)
        ewma = self._ewma or latency
        if self._samples > 20 and ewma > self.LATENCY_FACTOR * self._baseline + self.LATENCY_SLACK:
            return self._decrease(limit, 0.8, now)
        return limit + (1.0 if self.slow_start else 1.0 / max(limit, 1.0))

    def _observe(self, latency: float) -> None:
        self._samples += 1
        self._ewma = latency if self._ewma is None else 0.9 * self._ewma + 0.1 * latency
        if self._samples > 20:
            self._baseline = min(self._baseline, self._ewma)

    def _decrease(self, limit: float, factor: float, now: float) -> float:
        rtt = self._ewma or 0.1
        if now - self._last_decrease < max(rtt, 0.05):
            return limit  # once per round trip: the other losses are the same congestion
        self._last_decrease = now
        self.slow_start = False
        return max(1.0, limit * factor)


def _tighter(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)
