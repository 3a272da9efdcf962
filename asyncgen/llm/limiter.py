"""One rate limiter per (endpoint, model), shared by every task that calls that model.

Gates, in order: the adaptive concurrency window (AIMD on 503/529 from the cap down, only
while no rate is known), the transport's global concurrency cap, a hold (only after a run
of 429s: the endpoint's window is closed, or a spent budget), then token buckets for
requests, tokens, and Anthropic's separate input and output tokens. Buckets are paced
FIFO by one lock, retries first, so a send happens the moment its budget is there. On a
rolling window (read from the request headers) `CatchUp` judges the request rate over a
window of our own sends instead of the bucket, so sends the cap held back are made up.

The rate in force is `RateControl`'s: a share (`margin`) of the limits given or learned
from headers, or a rate learned from 429s when no limit is known. A single 429 costs the
refused request its own wait (the transport's retry honours the endpoint's advice) and
lowers the rate a little; it never stops the other senders, whose requests the endpoint
may well admit (a rolling window refuses at its edge; one refusal is no closed window).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from asyncgen.config.llm import LimitSettings
from asyncgen.llm.bucket import TokenBucket
from asyncgen.llm.budget import BudgetSource
from asyncgen.llm.control import (
    CATCH_UP_WINDOWS,
    CatchUp,
    ConcurrencyGuess,
    RateControl,
    ResetClock,
)
from asyncgen.llm.errors import LimitExhaustedError
from asyncgen.llm.headers import RateLimitInfo
from asyncgen.llm.retry import FaultRate
from asyncgen.llm.stats import LimiterSnapshot
from asyncgen.llm.window import PriorityLock, Window

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

DEFAULT_HOLD = 0.5  # seconds all sends wait after a run of 429s without retry advice
HOLD_AFTER = 5  # sends in a row (in send order) refused that mean the window is closed
REFUSED_MEMORY = 256  # refused sends remembered to find runs of consecutive refusals
RECENT_WINDOW = 1.0  # seconds of sends remembered while no request limit is known
RAMP_FLOOR = 0.5  # share of the rate allowed right after a hold
MAX_HOLD = 2.0  # a closed window is re-tried at least this often (its retry-after rounds up)
MIN_BURST = 0.02  # seconds of the rate sent at once after the endpoint refused a burst
TIMER_SLACK = 0.01  # seconds of the rate a bucket keeps above one send (a late wake-up's)
MAX_BUDGET_WAIT = 300.0  # a spent budget that refills later than this stops the run
REOPEN_GUARD = 0.05  # seconds past a fixed window's reset (as read) before its allowance goes
LOOSER = CATCH_UP_WINDOWS[-1]  # a stated request limit this many times the user's RPM (or
# more) is none that could refuse a catch-up: it never sends more than the longest
# window's share of the user's rate in any second, and this fits in the endpoint's second


@dataclass
class Permit:
    """What one send reserved, so its release can refund and correct."""

    seq: int
    prompt_tokens: int
    completion_tokens: int
    sent_at: float
    claim: Hashable = None
    level: int = 0  # other requests of this limiter in flight when it was sent

    @property
    def tokens(self) -> int:
        """Total reserved tokens."""
        return self.prompt_tokens + self.completion_tokens


@dataclass
class _Budget:
    """A long-window request budget (Groq's per-day limit): what was left, and when."""

    remaining: int
    seq: int
    refill_seconds: float  # time for one request to come back (reset / used)
    read_at: float

    def wait(self, seq: int, now: float) -> float:
        """Seconds until one more request is in the budget (0 when it is now)."""
        left = self.remaining - (seq - self.seq)
        if left > 0:
            return 0.0
        return max(0.0, self.read_at + (1 - left) * self.refill_seconds - now)


class RateLimiter:
    """Request and token buckets, 429-driven rate control, header learning, AIMD window."""

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
        self._budget = budget  # a rate budget shared beyond this process (a Ray run's)
        self._settings = settings
        self._slots = slots
        self._clock = clock
        self._sleep = sleep
        self._learned: dict[str, int | None] = dict.fromkeys(_DIMENSIONS)
        self._learned_concurrency: int | None = None
        self._buckets: dict[str, TokenBucket] = {}
        self._daily: _Budget | None = None
        self._reset_clocks: dict[str, ResetClock] = {}
        self._window_size: dict[str, float] = {}  # the most a fixed window was read to hold
        self._reopen: dict[str, tuple[float, float]] = {}  # spent fixed window: (opens, holds)
        self._pace = PriorityLock()
        self._paused_until = -math.inf
        self._ramp_from = -math.inf
        self._seq = 0
        self._streak = 0  # consecutive sends (in send order) refused, ending at the latest 429
        self._streak_advice: float | None = None
        self._refused_seqs: deque[int] = deque(maxlen=REFUSED_MEMORY)
        self._burst = settings.burst_seconds
        self._recent_sends: deque[tuple[float, int]] = deque(maxlen=4096)
        self.control = RateControl(clock())
        self.catch_up = CatchUp(clock())
        # request headers read as a rolling window's (True: catch-up may pay), a bucket's or
        # a fixed window's (False: never), or not read yet (None)
        self._rolling: bool | None = None
        self._nearly_spent = False  # the last reading left under a second's share
        self._answered = False  # an answer (and its headers, if any) was read
        self._states_requests = False  # the endpoint's headers state a request limit of a kind
        self._out = 0  # requests sent and not yet released (a permit's `level`)
        self.slots_guess = ConcurrencyGuess()  # are 429s about requests in flight?
        self._overload_levels = ConcurrencyGuess()  # and 503/529s?
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
        """The requests-per-minute limit known (configured or learned, the tighter)."""
        return _tighter(self._settings.rpm, self._learned["requests"])

    @property
    def tpm_limit(self) -> int | None:
        """The tokens-per-minute limit known (configured or learned, the tighter)."""
        return _tighter(self._settings.tpm, self._learned["tokens"])

    @property
    def rate_in_force(self) -> float | None:
        """Requests per second sends are paced at now (None: unpaced)."""
        bucket = self._buckets.get("requests")
        return None if bucket is None else bucket.rate

    @property
    def is_adaptive(self) -> bool:
        """True while AIMD sizes the window: adaptive on and no rate known or learned."""
        if not self._settings.adaptive or self.control.ceiling is not None:
            return False
        if self._learned_concurrency is not None or self.slots_guess.limit is not None:
            return False
        return not any(self._limit(dim) for dim in _DIMENSIONS)

    @property
    def needs_token_estimate(self) -> bool:
        """True when a token bucket is active or may be learned: callers then estimate tokens."""
        return (
            len(self._buckets) > ("requests" in self._buckets)
            or self._settings.learn_from_headers
            or self._budget is not None
        )

    @property
    def paused_for(self) -> float:
        """Seconds every send stays held (0 when running)."""
        return max(0.0, self._paused_until - self._clock())

    # -- acquire / release -------------------------------------------------------------

    async def acquire(
        self, prompt_tokens: int = 0, completion_tokens: int = 0, *, urgent: bool = False
    ) -> Permit:
        """Wait until one request with this token estimate may be sent, then reserve it.

        Args:
            prompt_tokens: estimated prompt tokens (reserved in the token buckets).
            completion_tokens: tokens reserved for the answer (max_tokens or an estimate).
            urgent: a retry: served before first attempts waiting for the same budget.

        Raises:
            LimitExhaustedError: a request budget is spent and refills only after
                `MAX_BUDGET_WAIT` seconds (a daily limit): waiting would stall the run.
        """
        claim: Hashable = None
        if self._budget is not None:
            await self.window.acquire()
            try:
                claim = await self._shared_budget(prompt_tokens, completion_tokens, urgent)
            except BaseException:
                self.window.release()
                raise
        else:
            await self._slot_and_budget(prompt_tokens, completion_tokens, urgent)
        self._seq += 1
        now = self._clock()
        self.control.on_send(now)
        self.catch_up.on_send(now)
        if "requests" not in self._buckets or "tokens" not in self._buckets:
            self._recent_sends.append((now, prompt_tokens + completion_tokens))
        level, self._out = self._out, self._out + 1
        return Permit(self._seq, prompt_tokens, completion_tokens, now, claim, level)

    def release(
        self,
        permit: Permit,
        *,
        outcome: str,
        latency: float = 0.0,
        used_tokens: int | None = None,
        info: RateLimitInfo | None = None,
        retry_after: float | None = None,
        used_prompt_tokens: int | None = None,
    ) -> None:
        """Give the slot back and learn from the outcome.

        Args:
            permit: what `acquire` returned.
            outcome: "ok", "rate_limited", "overloaded" (503/529), or any other failure cause.
            latency: seconds the attempt took.
            used_tokens: prompt + completion tokens from the response's usage, if known.
            info: the response's rate-limit headers.
            retry_after: the endpoint's retry advice, seconds.
            used_prompt_tokens: the prompt part of `used_tokens`, if known.
        """
        if self._slots is not None:
            self._slots.release()
        self.window.release()
        self._out -= 1
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
            self._learn(info, permit, now, refused=outcome == "rate_limited")
        self._refund(permit, outcome, used_tokens, used_prompt_tokens)
        self.faults.observe(outcome)
        if outcome == "ok":
            self._answered = True
        if outcome == "rate_limited":
            self._on_refusal(permit, now, retry_after)
        else:
            if outcome == "ok" and not self.slots_guess.is_rate:
                self.slots_guess.on_admitted(now, permit.level)
        if self.is_adaptive:
            self._adapt(outcome, latency, now, permit)

    def pause(self, seconds: float | None) -> None:
        """Hold every send through this limiter for `seconds`, then ramp back up."""
        now = self._clock()
        until = now + (DEFAULT_HOLD if seconds is None else seconds)
        if until > self._paused_until:
            if self._paused_until < now:
                logger.info(
                    "%s: endpoint refusing everything, holding sends %.2f s", self.name, until - now
                )
            self._paused_until = until
            self._ramp_from = until
            self.pauses += 1
        for bucket in self._buckets.values():
            bucket.refill(now, self._ramp_factor(now))
            bucket.cap_level(0.0)

    def snapshot(self) -> LimiterSnapshot:
        """Limits in force, rate control, window, queue and holds, for metrics."""
        margin, ceiling = self.control.current(self._clock())
        rate = self.rate_in_force
        return {
            "rpm_limit": self.rpm_limit,
            "tpm_limit": self.tpm_limit,
            "input_tpm_limit": self._limit("input_tokens"),
            "output_tpm_limit": self._limit("output_tokens"),
            "daily_requests_left": None if self._daily is None else self._daily.remaining,
            "send_rpm": None if rate is None else round(rate * 60, 1),
            "margin": round(margin, 3),
            "learned_rpm": None if ceiling is None else round(ceiling * 60, 1),
            "rate_events": self.control.events,
            "window": self.window.size,
            "waiting": self.window.waiting,
            "adaptive": self.is_adaptive,
            "paused_for": round(self.paused_for, 3),
            "pauses": self.pauses,
            "fault_share": round(self.faults.value, 3),
        }

    # -- internals: waiting ----------------------------------------------------------------

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

    async def _slot_and_budget(self, prompt: int, completion: int, urgent: bool) -> None:
        """Wait (in pacing order) for the buckets to allow a send, then for a slot.

        The budget comes first: a task waiting for its turn at the rate holds no slot (a
        slot held while waiting is a request the endpoint could be serving, which costs
        throughput wherever slots bind: a concurrency limit, the cap). The one task at the
        head of pacing keeps the lock while it waits for a slot, so budget taken ahead of
        a send is one request's at most and sends still never outrun the rate.

        A task that got its slot unpaced and finds pacing begun meanwhile (a rate learned
        from a 429) gives the slot back and takes the paced way: holding it while waiting
        for the lock deadlocked with the lock's holder waiting for a slot (every slot held
        by tasks queued on the lock: no send ever again).
        """
        while True:
            if self._paces:
                await self._pace.acquire(urgent=urgent)
                try:
                    await self._wait_for_budget(prompt, completion)
                    await self._take_slots()
                finally:
                    self._pace.release()
                return
            await self._take_slots()
            if not self._paces:
                return
            self._give_slots()

    @property
    def _paces(self) -> bool:
        """True when sends wait for a budget: buckets, a daily budget, or a hold."""
        return bool(self._buckets) or self._daily is not None or self.paused_for > 0

    async def _take_slots(self) -> None:
        """The adaptive window's slot, then the transport's global one."""
        await self.window.acquire()
        if self._slots is not None:
            try:
                await self._slots.acquire()
            except BaseException:
                self.window.release()
                raise

    def _give_slots(self) -> None:
        if self._slots is not None:
            self._slots.release()
        self.window.release()

    async def _wait_for_budget(self, prompt: int, completion: int) -> None:
        amounts = {
            "requests": 1,
            "tokens": prompt + completion,
            "input_tokens": prompt,
            "output_tokens": completion,
        }
        while True:
            now = self._clock()
            if now < self._paused_until:
                await self._sleep(self._paused_until - now)
                continue
            self._retune(now)
            if self._reopen:
                self._reopen_windows(now)
            factor = self._ramp_factor(now)
            wait = 0.0
            ahead = self._catch_up_wait(now)
            for dim, bucket in self._buckets.items():
                bucket.refill(now, factor)
                if dim == "requests" and ahead is not None:
                    wait = max(wait, ahead)
                else:
                    wait = max(wait, bucket.wait_time(amounts[dim], factor))
            if self._daily is not None:
                wait = max(wait, self._daily_wait(now))
            for opens, _ in self._reopen.values():  # a spent fixed window: nothing until then
                wait = max(wait, opens - now)
            if wait <= 1e-6:  # below clock resolution: sleeping would not advance time
                for dim, bucket in self._buckets.items():
                    bucket.take(amounts[dim])
                requests = self._buckets.get("requests")
                if ahead is not None and requests is not None and requests.level < 0:
                    requests.set_level(0.0)  # judged over the window: no debt left for later
                return
            await self._sleep(min(wait, 1.0))  # re-check: rate control may have moved

    def _catch_up_wait(self, now: float) -> float | None:
        """Seconds until a send fits the request rate judged over the catch-up window, or
        None to pace uniformly: only a known request limit whose headers read as a rolling
        window's (a bucket, a fixed window, a GCRA's burst have their own credit rules)."""
        bucket = self._buckets.get("requests")
        if bucket is None or not self._catches_up:
            return None
        return self.catch_up.wait(now, bucket.rate)

    @property
    def _catches_up(self) -> bool:
        """True when sends may make up what they did not send (see `_catch_up_wait`): the
        endpoint's headers read as a rolling window's, or the user's RPM is the only rate
        in sight (`_user_rate_alone`); never while the last reading left under a second's
        share of the endpoint's limit."""
        if self.rpm_limit is None or self._nearly_spent:
            return False
        return self._rolling is True or self._user_rate_alone

    @property
    def _user_rate_alone(self) -> bool:
        """True when the RPM the user gave is in force and the endpoint's headers state its
        request limits, none of them a rate that could refuse a catch-up: slots in flight,
        a daily budget, or a per-minute figure at least `LOOSER` times the user's.

        Then the user's figure is the only rate, and a figure per minute is kept by the
        catch-up's rule (at most the rate's share of any window of 2, 5 or 10 s, each
        dividing a minute; at most a share and a lead in any second), not only by a
        uniform pace, which loses for good every send the cap of requests in flight held
        back. An endpoint that states no request limit may still count one second at a
        time, which refuses the lead (it keeps the uniform pace); a stated limit close to
        the user's (a key shared with another process) leaves the endpoint's own rules in
        charge; a 429 ends the catch-up for a while, as on a rolling window.
        """
        given = self._settings.rpm
        if given is None or not (self._answered and self._states_requests):
            return False
        stated = self._learned["requests"]
        return stated is None or stated >= LOOSER * given

    def _daily_wait(self, now: float) -> float:
        assert self._daily is not None
        wait = self._daily.wait(self._seq, now)
        if wait > MAX_BUDGET_WAIT:
            raise LimitExhaustedError(
                f"{self.name}: the endpoint's request budget is spent until "
                f"{_human(wait)} from now (a daily limit): rerun then to continue",
            )
        return wait

    def _ramp_factor(self, now: float) -> float:
        ramp = self._settings.resume_ramp_seconds
        if ramp <= 0 or now >= self._ramp_from + ramp:
            return 1.0
        if now <= self._ramp_from:
            return RAMP_FLOOR
        return RAMP_FLOOR + (1.0 - RAMP_FLOOR) * (now - self._ramp_from) / ramp

    # -- internals: rates ----------------------------------------------------------------

    def _limit(self, dim: str) -> int | None:
        configured = {"requests": self._settings.rpm, "tokens": self._settings.tpm}.get(dim)
        return _tighter(configured, self._learned[dim])

    def _retune(self, now: float) -> None:
        """Follow rate control's margin or learned rate (cheap when nothing changed)."""
        margin, ceiling = self.control.current(now)
        for dim, bucket in self._buckets.items():
            limit = self._limit(dim)
            rate = limit / 60.0 * margin if limit else ceiling
            if rate is not None and abs(rate - bucket.rate) > 1e-9 * max(rate, 1.0):
                bucket.reshape(rate, self._capacity(rate), now)

    def _reshape(self) -> None:
        """Create, resize or drop buckets after the known limits changed."""
        now = self._clock()
        margin, ceiling = self.control.current(now)
        for dim in _DIMENSIONS:
            limit = self._limit(dim)
            rate = limit / 60.0 * margin if limit else None
            if rate is None and dim == "requests":
                rate = ceiling
            bucket = self._buckets.get(dim)
            if rate is None:
                self._buckets.pop(dim, None)
            elif bucket is None:
                capacity = self._capacity(rate)
                learned = limit is None  # a rate learned from 429s: those sends were judged
                ahead = 0.0 if learned else self._ahead_of_pace(rate, now, tokens=dim != "requests")
                # starting at one request's worth, not a full burst: a sliding window counts
                # the burst and the first second's pacing together
                start = min(capacity, 1.0 if dim == "requests" else capacity)
                self._buckets[dim] = TokenBucket(rate, capacity, now, level=start - ahead)
            else:
                bucket.reshape(rate, self._capacity(rate), now)
        if not self.is_adaptive:
            cap = self._settings.concurrency
            slots = self._learned_concurrency or self.slots_guess.limit or cap
            self.window.set_limit(min(cap, slots))

    def _capacity(self, rate: float) -> float:
        """A bucket's size: `burst_seconds` of the rate, and at least one send plus
        `TIMER_SLACK` of the rate. A paced send wakes a little after its moment (timers fire
        on the millisecond, the loop is busy); a bucket of exactly one send caps the level
        at its moment and loses that lateness at every send (~0.8 % of 599 RPM through a
        LiteLLM proxy: 594 sends a minute at a margin of 1.0), the slack carries it to the
        next send. It adds at most `TIMER_SLACK` of the rate to any window's count."""
        return max(1.0 + rate * TIMER_SLACK, rate * self._burst)

    def _ahead_of_pace(self, rate: float, now: float, *, tokens: bool) -> float:
        """Sends made before the limit was known beyond what `rate` allows: a debt to wait off."""
        recent = [(t, n) for t, n in self._recent_sends if t > now - RECENT_WINDOW]
        if not recent:
            return 0.0
        spent = sum(n for _, n in recent) if tokens else len(recent)
        # As if they all reached the endpoint with the last one: arrivals bunch on cold connections.
        return max(0.0, spent - rate * (now - recent[-1][0]))

    def _on_refusal(self, permit: Permit, now: float, retry_after: float | None) -> None:
        """A 429: lower the rate once per event, and hold everyone only for a closed window."""
        # a refusal of a send that ran ahead of uniform pacing is the catch-up's (it ends
        # for a while), not the rate's: the rate and the burst stay
        blamed = self.catch_up.on_refusal(now, permit.sent_at) and self._catches_up
        run = self._refused_run(permit.seq)
        if run == 1:
            self._streak_advice = None  # a new run: the last one's advice is stale
        shut_now = run >= HOLD_AFTER > self._streak  # this refusal completes the run
        self._streak = run
        if retry_after is not None:
            advice = self._streak_advice
            self._streak_advice = retry_after if advice is None else min(advice, retry_after)
        known = self.rpm_limit
        if not self._settings.adaptive and known is None and self.tpm_limit is None:
            return  # measuring mode: nothing may pace the sends
        # with no rate known, or only the user's and headers that state no request limit
        # (slots in flight would be among them), a 429 may be about requests in flight;
        # with the user's rate, only one judged against answers, and not one of a run (a
        # window closed at the start refuses at levels nothing was admitted at yet)
        unstated = known is not None and not self._states_requests and self._answered
        unstated = unstated and run == 1
        no_rate = known is None and self.tpm_limit is None
        if (no_rate or unstated) and self.control.ceiling is None and not self.slots_guess.is_rate:
            verdict = self.slots_guess.on_refusal(now, permit.sent_at, permit.level)
            if verdict:
                self._reshape()
                logger.info(
                    "%s: 429 at %d in flight, none refused below: holding %d in flight",
                    self.name,
                    permit.level,
                    self.window.size,
                )
            if verdict is not False:
                return  # a slot count, not a rate: nothing to learn about pacing
        closed = self._streak > HOLD_AFTER  # the window is shut: the same event until it opens
        if (
            not closed
            and not blamed
            and self.control.on_refusal(
                now, permit.sent_at, None if known is None else known / 60.0
            )
        ):
            if self._burst > MIN_BURST:
                self._burst = MIN_BURST  # the endpoint counts short windows: no more bursts
            was_adaptive = "requests" not in self._buckets
            self._reshape()
            if was_adaptive and self.control.ceiling is not None:
                logger.info(
                    "%s: 429 without a known limit: pacing at the %.0f RPM it admitted",
                    self.name,
                    self.control.ceiling * 60,
                )
        if shut_now:
            self.control.on_closed_window(now, None if known is None else known / 60.0)
            self._reshape()
        if self._streak >= HOLD_AFTER and self._settings.pause_on_429 and not self._reopens(now):
            advice = self._streak_advice
            self.pause(DEFAULT_HOLD if advice is None else min(advice, MAX_HOLD))

    def _reopens(self, now: float) -> bool:
        """True while a spent fixed window holds sends until the moment it was read to reopen:
        a blind hold on top would only end later than that (its ramp slows the refill)."""
        reopen = self._reopen.get("requests")
        return reopen is not None and reopen[0] > now

    def _refused_run(self, seq: int) -> int:
        """How many sends in a row, in send order, ending with send `seq`, were refused.

        A closed window refuses every send, one after another; a window at its edge refuses
        some and admits the sends between. Answers of requests sent before the window shut
        (they arrive a latency later) say nothing about it now, so a run is counted in send
        order, not in the order answers arrive: a 429 comes back at once, an admitted
        request (the send between two refusals) breaks the run whenever its answer comes.
        """
        refused = self._refused_seqs
        refused.append(seq)
        known = set(refused)
        run = 1
        while seq - run in known:
            run += 1
        return run

    # -- internals: learning from headers ----------------------------------------------------

    def _learn(self, info: RateLimitInfo, permit: Permit, now: float, refused: bool) -> None:
        if not self._states_requests:
            stated = (info.limit_requests, info.daily_requests, info.concurrency)
            self._states_requests = any(value is not None for value in stated)
        readings = {
            "requests": info.limit_requests,
            "tokens": info.limit_tokens,
            "input_tokens": info.limit_input_tokens,
            "output_tokens": info.limit_output_tokens,
        }
        changed = False
        for dim, value in readings.items():
            if value and value != self._learned[dim]:
                self._learned[dim], changed = value, True
        if info.concurrency is not None and info.concurrency != self._learned_concurrency:
            self._learned_concurrency, changed = info.concurrency, True
            if self._learned["requests"] == info.concurrency:
                self._learned["requests"] = None  # taken for RPM before: slots in flight
        if info.daily_requests is not None and self._learned["requests"] == info.daily_requests:
            self._learned["requests"], changed = None, True  # taken for RPM before: a day's
        if changed:
            self._reshape()
            logger.info(
                "%s: limits the endpoint states: %s (in force: %s RPM, %s TPM)",
                self.name,
                {k: v for k, v in self._learned.items() if v},
                self.rpm_limit,
                self.tpm_limit,
            )
        if info.daily_requests is not None and info.remaining_requests is not None:
            self._learn_daily(info, now)
        sent_since = self._seq - permit.seq
        corrections = (
            ("requests", info.limit_requests, info.remaining_requests, info.reset_requests, 1),
            ("tokens", info.limit_tokens, info.remaining_tokens, info.reset_tokens, permit.tokens),
            (
                "input_tokens",
                info.limit_input_tokens,
                info.remaining_input_tokens,
                info.reset_input_tokens,
                permit.prompt_tokens,
            ),
            (
                "output_tokens",
                info.limit_output_tokens,
                info.remaining_output_tokens,
                info.reset_output_tokens,
                permit.completion_tokens,
            ),
        )
        for dim, limit, remaining, reset, per_send in corrections:
            if dim == "requests" and (info.concurrency, info.daily_requests) != (None, None):
                continue  # its remaining counts free slots or a day's budget, not a rate's
            bucket = self._buckets.get(dim)
            if bucket is not None and remaining is not None:
                clock = self._reset_clocks.setdefault(dim, ResetClock())
                # a refusal's remaining is 0 for the dimension that refused, whatever is left
                fixed = (
                    clock.fixed
                    if refused
                    else clock.observe(permit.sent_at, reset, remaining, permit.seq)
                )
                fixed = fixed or (info.fixed_window_requests and dim == "requests")
                reading = _Reading(limit, remaining, reset, fixed, dim == "requests")
                self._correct(dim, bucket, reading, sent_since * per_send, permit, now)
        if (
            info.limit_tokens is None
            and info.remaining_tokens == 0
            and "tokens" not in self._buckets
        ):
            # Azure may send only remaining-tokens: empty means slow down, as a 429 would
            self.control.on_refusal(now, permit.sent_at, self._request_rate())

    def _request_rate(self) -> float | None:
        limit = self.rpm_limit
        return None if limit is None else limit / 60.0

    def _learn_daily(self, info: RateLimitInfo, now: float) -> None:
        assert info.daily_requests is not None and info.remaining_requests is not None
        used = info.daily_requests - info.remaining_requests
        reset = info.reset_requests or 0.0
        refill = reset / used if used > 0 else 86400.0 / info.daily_requests
        self._daily = _Budget(info.remaining_requests, self._seq, refill, now)

    def _correct(
        self,
        dim: str,
        bucket: TokenBucket,
        reading: _Reading,
        since: float,
        permit: Permit,
        now: float,
    ) -> None:
        """Bring our level to the endpoint's, net of what we sent after this request.

        OpenAI-style buckets refill continuously (reset = time until full): `remaining`
        only lowers our level, since a shorter window the headers do not show may hold
        less. A fixed window refills all at once at reset: until then `remaining` is
        exactly what it admits, so it is our level (credit above the burst: the window
        spent as fast as the concurrency cap allows, as a plain client would). So is a
        request allowance below one second of the stated per-minute limit (a GCRA's burst
        as it is spent: what passes now, not a minute's figure).

        A fixed window seen to be one reopens whole: spent, it holds sends until its reset
        (plus `REOPEN_GUARD`: the reset was read after the request left), and then the most
        it was read to hold goes at once, as its remaining would say a round trip later. A
        reading of a window that has reopened since is stale and says nothing.
        """
        if reading.requests:
            self._classify(reading)
        bucket.refill(now, self._ramp_factor(now))
        elapsed = now - permit.sent_at
        left = reading.remaining - since
        to_reset = (reading.reset or 0.0) - elapsed
        if reading.fixed:
            if to_reset <= 0 and reading.reset:
                return  # the window it read has reopened since
            size = max(self._window_size.get(dim, 0.0), float(reading.remaining))
            self._window_size[dim] = size
            if left < 1 and to_reset > 0:
                reopen = to_reset + REOPEN_GUARD
                # spent until it reopens, and no longer: sends charged as debt before the
                # limit was known (a burst) were this window's, and it ends then
                bucket.set_level(1.0 - bucket.rate * reopen)
                self._reopen[dim] = (now + reopen, size)
                return
        if reading.is_fixed_window and to_reset > 0 and left < 1:
            bucket.cap_level(1.0 - bucket.rate * to_reset)  # spent until it reopens
        elif reading.fixed and to_reset > 0:  # seen (or said) to be fixed, not just inferred
            bucket.set_level(left)
        elif reading.is_burst_allowance and self._rolling is not True:
            bucket.set_level(left + bucket.rate * elapsed)
        elif reading.is_fixed_window and to_reset > 0:
            bucket.cap_level(left)
        else:
            bucket.cap_level(left + bucket.rate * elapsed)
            if (
                reading.is_continuous_bucket
                and self._rolling is not True
                and self._binds(reading)
                and self._burst > MIN_BURST
            ):
                self._second_share_credit(bucket, reading, since)

    def _classify(self, reading: _Reading) -> None:
        """Whether the request headers read as a rolling window's: catch-up is for those
        only. The first reading with a second's share or more left decides (a rolling
        minute nearly full later looks like a bucket refilling: its reset, a minute, is
        then the time to refill what is used); a fixed window found later overrides it; a
        remaining under a second of the limit (a GCRA's burst, or a rolling minute nearly
        spent) pauses it."""
        if reading.fixed:
            self._rolling = False
        elif reading.is_burst_allowance:
            self._nearly_spent = True
        else:
            self._nearly_spent = False
            if self._rolling is None:
                self._rolling = not (reading.is_fixed_window or reading.is_continuous_bucket)

    def _reopen_windows(self, now: float) -> None:
        """Spent fixed windows whose reset has passed hold what they were read to hold."""
        for dim, (opens, size) in list(self._reopen.items()):
            if now >= opens:
                del self._reopen[dim]
                bucket = self._buckets.get(dim)
                if bucket is not None and size > bucket.level:
                    bucket.set_level(size)

    def _binds(self, reading: _Reading) -> bool:
        """True when the endpoint's stated request limit is the one in force: a lower one
        the user gave (a key shared with another process) is kept to, burst for burst."""
        configured = self._settings.rpm
        return reading.limit is not None and (configured is None or reading.limit <= configured)

    @staticmethod
    def _second_share_credit(bucket: TokenBucket, reading: _Reading, since: float) -> None:
        """A continuous minute bucket admits one second of its limit at once, less what the
        headers show used: credit above our burst, never past it.

        A bucket quantised to a second (OpenAI enforces 6,000 RPM as 100 a second, the
        simulator's token bucket likewise, with 10 % more) refills at the same rate as
        the minute bucket the headers show and is charged the same sends, so what the
        minute bucket lacks (`limit - remaining`) the second's bucket lacks too. What it
        holds beyond that is admitted now, less what we sent after this reading (the
        refill since is left out: the reading may be the older of two that crossed).
        A plain uniform pace would leave it unspent: with the cap of requests in flight
        holding sends back now and then, it is the lead that absorbs those stalls.
        """
        assert reading.limit is not None
        share = reading.limit / 60.0
        credit = share - (reading.limit - reading.remaining) - since
        if credit > bucket.level:
            bucket.set_level(credit)

    def _refund(
        self, permit: Permit, outcome: str, used: int | None, used_prompt: int | None
    ) -> None:
        if permit.tokens == 0:
            return
        refused = outcome == "rate_limited"  # refused at the door: nothing was counted
        for dim, reserved in (
            ("tokens", permit.tokens),
            ("input_tokens", permit.prompt_tokens),
            ("output_tokens", permit.completion_tokens),
        ):
            bucket = self._buckets.get(dim)
            if bucket is None:
                continue
            if refused:
                bucket.give(reserved)
            elif used is not None:
                actual = {"tokens": used, "input_tokens": used_prompt}.get(dim)
                if dim == "output_tokens" and used_prompt is not None:
                    actual = used - used_prompt
                if actual is not None:
                    bucket.give(reserved - actual)
            elif dim != "input_tokens":
                bucket.give(permit.completion_tokens)  # no answer was generated

    def _adapt(self, outcome: str, latency: float, now: float, permit: Permit) -> None:
        limit = self._aimd.next_limit(self.window.limit, outcome, latency, now)
        overload = self._overload_levels
        if outcome == "ok" and not overload.is_rate:
            overload.on_admitted(now, permit.level)
        elif outcome == "overloaded" and not overload.is_rate:
            # a server that serves so many at a time: its 503s say how many (as 429s do)
            verdict = overload.on_refusal(now, permit.sent_at, permit.level)
            if verdict is None:
                return  # sent before the window last shrank: the same overload
            if verdict:
                limit = float(overload.limit or 1)
        if limit != self.window.limit:
            self.window.set_limit(limit)


_DIMENSIONS = ("requests", "tokens", "input_tokens", "output_tokens")


@dataclass(frozen=True)
class _Reading:
    """One dimension of a response's rate-limit headers."""

    limit: int | None
    remaining: int
    reset: float | None
    fixed: bool = False
    requests: bool = False

    @property
    def is_burst_allowance(self) -> bool:
        """True for a request allowance below a second of the per-minute limit: a GCRA's
        burst being spent, which is what passes now (a minute bucket's remaining is far
        above; Together's per-second figure equals it while nothing is spent)."""
        return self.requests and bool(self.limit) and self.remaining < (self.limit or 0) / 60

    @property
    def is_continuous_bucket(self) -> bool:
        """True for a request bucket refilling continuously at limit/60 per second (OpenAI's):
        its reset is the time to refill what is used. A rolling window's reset is the
        newest request's age-out (~a minute away), a fixed window's the next boundary,
        whatever is used; the tolerance covers the headers' rounding (whole requests,
        milliseconds)."""
        if not self.requests or not self.limit or self.reset is None or self.fixed:
            return False
        refill = (self.limit - self.remaining) / (self.limit / 60.0)
        return self.reset <= 1.25 * refill + 0.05

    @property
    def is_fixed_window(self) -> bool:
        """True when the window refills at once at reset (said so, or the reset is too soon
        for a continuous refill at limit/60 per second)."""
        if self.fixed:
            return True
        if not self.limit or not self.reset:
            return False
        if self.limit - self.remaining < max(3.0, 0.05 * self.limit):
            return False  # too little used to tell; header rounding would mislead
        implied_rate = (self.limit - self.remaining) / self.reset
        return implied_rate > 1.5 * self.limit / 60.0


class Aimd:
    """Requests in flight while no rate is known: `initial_concurrency` until the endpoint's
    first answer (its headers may state a limit), then the whole cap, as a plain client
    sends; halved on 503/529 and +1 per round trip after that (TCP's congestion control,
    applied to requests in flight). Latency alone never lowers it: a slower answer is no
    refusal, and a server that queues answers more of them, not fewer. Once a rate is
    known or learned, 429s are rate control's business."""

    def __init__(self, settings: LimitSettings) -> None:
        self.cap = float(settings.concurrency)
        self.initial = float(min(settings.initial_concurrency, settings.concurrency))
        self._ewma: float | None = None
        self._last_decrease = -math.inf
        self.answered = False

    def next_limit(self, limit: float, outcome: str, latency: float, now: float) -> float:
        """The window after one completed attempt."""
        if not self.answered and outcome != "cancelled":
            self.answered = True  # said nothing of a limit (else no window would adapt)
            limit = max(limit, self.cap)
        if outcome == "overloaded":
            return self._decrease(limit, 0.5, now)
        if outcome != "ok":
            return limit
        self._ewma = latency if self._ewma is None else 0.9 * self._ewma + 0.1 * latency
        return limit + 1.0 / max(limit, 1.0)

    def _decrease(self, limit: float, factor: float, now: float) -> float:
        rtt = self._ewma or 0.1
        if now - self._last_decrease < max(rtt, 0.05):
            return limit  # once per round trip: the other losses are the same congestion
        self._last_decrease = now
        return max(1.0, limit * factor)


def _tighter(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _human(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
