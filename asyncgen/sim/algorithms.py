"""Rate-limit algorithms: one window per (key, dimension), each enforcing its definition exactly.

Every window answers the same four questions, so the limiter and the header dialects need
not know which algorithm runs: how long until a request of `cost` would pass
(`wait_for`; 0 = now, `NEVER` = it never can), take it (`commit`), what is left and when
the allowance is whole again (`state`), and, for concurrency, give a slot back
(`release`). `cost` is 1 for the requests dimension and the request's token charge for
the tokens dimension. Times are seconds on one monotonic clock; aligned windows add the
clock's offset to UNIX time.

The definitions (what the tests in ``tests/test_sim_algorithms.py`` check, pairwise, over
every admitted request of a paced client):

- `TokenBucket` (``token_bucket``, today's default): a bucket of `limit` refilling at
  `limit / period` per second, and a sub-window bucket of ``ceil(rate * sub_window *
  (1 + burst))`` refilling at the same rate. For any interval of length t, admitted cost
  ≤ sub_cap + rate·t (and ≤ limit + rate·t).
- `RollingWindow` (``rolling``): admitted cost in every window (now − period, now] ≤
  `limit`, and in every window (now − sub_window, now] ≤ ``ceil(limit · sub_window /
  period)``: a sliding log (requests of the same millisecond share an entry, which only
  ever refuses a millisecond early, never admits more).
- `FixedWindow` (``fixed_minute``, ``fixed_10s``): admitted cost within each clock-aligned
  window [k·P, (k+1)·P) of UNIX time ≤ the window's limit (``fixed_10s``: limit / 6,
  rounded up, per 10 s, as Azure OpenAI evaluates per-minute quotas).
- `Gcra` (``gcra``): the generic cell rate algorithm with emission interval T = period /
  limit and burst tolerance of `burst` requests: in any interval t, admitted ≤ burst + t/T.
- `ConcurrencyLimit` (``concurrency``): at most `limit` admitted requests in flight per
  key at any instant; nothing is counted over time.
- Daily budget (``daily``): a `TokenBucket` over a day: `limit` requests, refilling at
  limit / 86,400 per second (Groq's `x-ratelimit-reset-requests` is the time until it
  is full again), no sub-window.

A request whose cost exceeds a sub-window or burst (a big token request) passes when that
sub-window is empty or bucket full, and leaves it in debt; one exceeding the whole
`limit` can never pass (`NEVER`, "too large").
"""

from __future__ import annotations

import math
from collections import deque
from typing import Protocol

__all__ = [
    "DAY",
    "MINUTE",
    "NEVER",
    "ConcurrencyLimit",
    "FixedWindow",
    "Gcra",
    "RollingWindow",
    "SlidingLog",
    "TokenBucket",
    "Window",
]

NEVER = math.inf
MINUTE = 60.0
DAY = 86_400.0
CONCURRENCY_RETRY_SECONDS = 1.0
_EPSILON = 1e-9  # float dust from refills is not a shortfall


class Window(Protocol):
    """One limited dimension of one key."""

    limit: int

    def wait_for(self, cost: int, now: float) -> float:
        """Seconds until `cost` would be admitted (0: now; `NEVER`: it never can)."""
        ...

    def commit(self, cost: int, now: float) -> None:
        """Charge `cost` (admitted, or refused when refused requests use quota)."""
        ...

    def state(self, now: float) -> tuple[int, float]:
        """(remaining allowance, seconds until the allowance is whole again)."""
        ...

    def release(self) -> None:
        """A request admitted by this window has finished (only concurrency cares)."""
        ...


class TokenBucket:
    """A bucket of `limit` per `period` refilling continuously, plus a burst sub-window."""

    def __init__(
        self,
        limit: int,
        now: float,
        *,
        period: float = MINUTE,
        sub_window: float | None = 1.0,
        burst: float = 0.1,
    ) -> None:
        self.limit = limit
        self.rate = limit / period
        self.level = float(limit)
        if sub_window is None:
            self.sub_cap = float(limit)
        else:
            self.sub_cap = float(max(1, math.ceil(self.rate * sub_window * (1 + burst))))
        self.sub_level = self.sub_cap
        self.updated = now

    def _advance(self, now: float) -> None:
        if now > self.updated:
            gained = (now - self.updated) * self.rate
            self.level = min(float(self.limit), self.level + gained)
            self.sub_level = min(self.sub_cap, self.sub_level + gained)
            self.updated = now

    def wait_for(self, cost: int, now: float) -> float:
        """Seconds until both buckets hold `cost` (the sub-window at most its capacity)."""
        self._advance(now)
        if cost > self.limit:
            return NEVER
        need_sub = min(float(cost), self.sub_cap)
        shortfall = max(cost - self.level, need_sub - self.sub_level)
        return shortfall / self.rate if shortfall > _EPSILON else 0.0

    def commit(self, cost: int, now: float) -> None:
        """Spend `cost` from both buckets (either may go into debt)."""
        self._advance(now)
        self.level -= cost
        self.sub_level -= cost

    def state(self, now: float) -> tuple[int, float]:
        """What is left of the allowance, and the time until the bucket is full."""
        self._advance(now)
        level = max(0.0, self.level)
        return int(level), (self.limit - level) / self.rate

    def release(self) -> None:
        """Nothing is held per request."""


class SlidingLog:
    """Admitted cost over the last `span` seconds: a log of [latest time, cost, millisecond].

    Requests within the same millisecond share one entry, which ages out with the latest
    of them: the window may hold a cost up to 1 ms longer than its own request would (a
    refusal at most a millisecond early), never less, so it never admits more than
    `limit`; and a busy window holds at most `span` × 1,000 entries.
    """

    def __init__(self, limit: int, span: float, *, oversize_when_empty: bool) -> None:
        self.limit = limit
        self.span = span
        self.oversize_when_empty = oversize_when_empty
        self.total = 0
        self.log: deque[list[float]] = deque()

    def _expire(self, now: float) -> None:
        cutoff = now - self.span
        log = self.log
        while log and log[0][0] <= cutoff:
            self.total -= int(log.popleft()[1])

    def wait_for(self, cost: int, now: float) -> float:
        """Seconds until enough of the log has aged out for `cost` to fit."""
        self._expire(now)
        if cost > self.limit and not self.oversize_when_empty:
            return NEVER
        excess = self.total + min(cost, self.limit) - self.limit
        if excess <= 0:
            return 0.0
        freed = 0.0
        for stamp, spent, _ in self.log:
            freed += spent
            if freed >= excess:
                return max(_EPSILON, stamp + self.span - now)
        return NEVER  # unreachable: the whole log frees `total` >= excess

    def commit(self, cost: int, now: float) -> None:
        """Log `cost` at `now` (into this millisecond's entry when there is one)."""
        self._expire(now)
        millisecond = float(math.floor(now * 1000))
        log = self.log
        if log and log[-1][2] == millisecond:
            last = log[-1]
            last[0] = now
            last[1] += cost
        else:
            log.append([now, float(cost), millisecond])
        self.total += cost

    def state(self, now: float) -> tuple[int, float]:
        """Unused allowance in the window, and the time until the newest entry ages out."""
        self._expire(now)
        reset = self.log[-1][0] + self.span - now if self.log else 0.0
        return max(0, self.limit - self.total), reset

    def release(self) -> None:
        """Nothing is held per request."""


class RollingWindow:
    """A rolling `period` (a minute) and a rolling pro-rata sub-window (1 s or 10 s)."""

    def __init__(self, limit: int, *, period: float = MINUTE, sub_window: float = 1.0) -> None:
        self.limit = limit
        self.whole = SlidingLog(limit, period, oversize_when_empty=False)
        sub_limit = max(1, math.ceil(limit * sub_window / period))
        self.sub = SlidingLog(sub_limit, sub_window, oversize_when_empty=True)

    def wait_for(self, cost: int, now: float) -> float:
        """The later of the two windows' waits."""
        return max(self.whole.wait_for(cost, now), self.sub.wait_for(cost, now))

    def commit(self, cost: int, now: float) -> None:
        """Log `cost` in both windows."""
        self.whole.commit(cost, now)
        self.sub.commit(cost, now)

    def state(self, now: float) -> tuple[int, float]:
        """The period's remaining allowance and reset."""
        return self.whole.state(now)

    def release(self) -> None:
        """Nothing is held per request."""


class FixedWindow:
    """``ceil(limit / share)`` per clock-aligned window of `period` seconds of UNIX time.

    `limit` stays the headline (per-minute) figure the headers report; `remaining` is what
    the current window still admits.
    """

    def __init__(self, limit: int, *, period: float, epoch_offset: float, share: int = 1) -> None:
        self.limit = limit
        self.window_limit = math.ceil(limit / share)
        self.period = period
        self.offset = epoch_offset
        self.index = -1
        self.used = 0

    def _roll(self, now: float) -> None:
        index = math.floor((now + self.offset) / self.period)
        if index != self.index:
            self.index = index
            self.used = 0

    def _left(self, now: float) -> float:
        return (self.index + 1) * self.period - self.offset - now

    def wait_for(self, cost: int, now: float) -> float:
        """0 while the window has room; else the time until the next window opens."""
        self._roll(now)
        if cost > self.limit:
            return NEVER
        # A cost above one window's share passes in an empty window (into debt).
        if self.used + min(cost, self.window_limit) <= self.window_limit:
            return 0.0
        return max(_EPSILON, self._left(now))

    def commit(self, cost: int, now: float) -> None:
        """Count `cost` in the current window."""
        self._roll(now)
        self.used += cost

    def state(self, now: float) -> tuple[int, float]:
        """Room left in this window, and the time until the next one opens."""
        self._roll(now)
        return max(0, self.window_limit - self.used), self._left(now)

    def release(self) -> None:
        """Nothing is held per request."""


class Gcra:
    """Generic cell rate algorithm: a theoretical arrival time advanced by cost × T."""

    def __init__(self, limit: int, now: float, *, period: float = MINUTE, burst: int) -> None:
        self.limit = limit
        self.interval = period / limit
        self.tolerance = burst * self.interval
        self.tat = now

    def wait_for(self, cost: int, now: float) -> float:
        """Seconds until max(TAT, now) + cost·T − now fits in the burst tolerance."""
        if cost > self.limit:
            return NEVER
        tat = max(self.tat, now)
        # A cost above the burst passes when the cell is idle (TAT <= now), into debt.
        charge = min(cost * self.interval, self.tolerance)
        wait = tat + charge - self.tolerance - now
        return wait if wait > _EPSILON else 0.0

    def commit(self, cost: int, now: float) -> None:
        """Advance the theoretical arrival time."""
        self.tat = max(self.tat, now) + cost * self.interval

    def state(self, now: float) -> tuple[int, float]:
        """Whole requests that would pass now, and the time until the TAT is reached."""
        backlog = max(0.0, self.tat - now)
        left = math.floor((self.tolerance - backlog) / self.interval + _EPSILON)
        return max(0, left), backlog

    def release(self) -> None:
        """Nothing is held per request."""


class ConcurrencyLimit:
    """At most `limit` requests of one key in flight; each admitted one holds a slot."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def wait_for(self, cost: int, now: float) -> float:
        """0 while a slot is free; else a nominal second (when a slot frees is unknowable)."""
        return 0.0 if self.in_flight < self.limit else CONCURRENCY_RETRY_SECONDS

    def commit(self, cost: int, now: float) -> None:
        """Take a slot."""
        self.in_flight += 1

    def state(self, now: float) -> tuple[int, float]:
        """Free slots; nothing resets with time."""
        return max(0, self.limit - self.in_flight), 0.0

    def release(self) -> None:
        """Give the slot back."""
        self.in_flight = max(0, self.in_flight - 1)
