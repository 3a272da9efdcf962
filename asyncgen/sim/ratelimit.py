"""OpenAI-style rate limits: requests and tokens per minute, per key, pro rata per second.

Each limited dimension (requests, tokens) of each API key has two windows:

- the minute: a bucket holding up to `limit` that refills continuously at `limit / 60`
  per second (so after a quiet minute the whole allowance is back, as OpenAI's
  ``x-ratelimit-reset-*`` headers describe: time until the bucket is full again);
- the sub-window: a bucket holding one second's share plus a 10 % burst allowance,
  ``ceil(limit / 60 * 1.1)``, refilling at the same `limit / 60` per second (60,000 RPM is
  enforced as 1,000 requests per second, bursts up to 1,100), so a client that fires a
  minute's allowance at once is refused after about one second's worth. A single request
  larger than this bucket is admitted when the bucket is full (and leaves it in debt).

A request is admitted only if both buckets admit it; a refused request consumes nothing.
Together they cap any rolling minute at the limit plus one second's burst. A bucket (not
a sliding log) for the sub-window tolerates a client whose evenly paced requests arrive
bunched after a stall of either process, as happens on a busy machine. A request whose
token cost exceeds the whole minute limit can never pass ("too large").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BURST_ALLOWANCE", "Admission", "RateLimiter", "WindowLimit", "format_duration"]

BURST_ALLOWANCE = 0.1
SUB_WINDOW = 1.0
NEVER = math.inf
_EPSILON = 1e-9  # float dust from refills is not a shortfall
_HEADER_KINDS = ("limit", "remaining", "reset")
_REQUEST_HEADERS = tuple(f"x-ratelimit-{what}-requests".encode() for what in _HEADER_KINDS)
_TOKEN_HEADERS = tuple(f"x-ratelimit-{what}-tokens".encode() for what in _HEADER_KINDS)


def format_duration(seconds: float) -> str:
    """OpenAI's reset format (Go durations): ``"20ms"``, ``"1s"``, ``"1.5s"``, ``"6m0s"``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text


class WindowLimit:
    """One dimension (requests or tokens) of one key: a minute bucket and a 1 s bucket."""

    def __init__(self, limit: int, now: float, burst: float = BURST_ALLOWANCE) -> None:
        self.limit = limit
        self.limit_bytes = str(limit).encode()
        self.rate = limit / 60.0
        self.level = float(limit)
        self.second_cap = float(max(1, math.ceil(self.rate * SUB_WINDOW * (1 + burst))))
        self.second_level = self.second_cap
        self.updated = now

    def _advance(self, now: float) -> None:
        """Refill both buckets at `limit / 60` per second."""
        if now > self.updated:
            gained = (now - self.updated) * self.rate
            self.level = min(float(self.limit), self.level + gained)
            self.second_level = min(self.second_cap, self.second_level + gained)
            self.updated = now

    def wait_for(self, cost: int, now: float) -> float:
        """Seconds until `cost` would be admitted (0: now; inf: never)."""
        self._advance(now)
        if cost > self.limit:
            return NEVER
        # A request bigger than the 1 s bucket passes when that bucket is full.
        need_second = min(float(cost), self.second_cap)
        shortfall = max(cost - self.level, need_second - self.second_level)
        return shortfall / self.rate if shortfall > _EPSILON else 0.0

    def commit(self, cost: int, now: float) -> None:
        """Spend `cost` from both buckets (the 1 s one may go into debt for a big request)."""
        self._advance(now)
        self.level -= cost
        self.second_level -= cost

    def remaining(self, now: float) -> int:
        """What is left of the minute allowance."""
        self._advance(now)
        return max(0, int(self.level))

    def reset_in(self, now: float) -> float:
        """Seconds until the minute allowance is whole again."""
        self._advance(now)
        return max(0.0, (self.limit - self.level) / self.rate)


@dataclass
class Admission:
    """The verdict on one request: admitted, or how long to wait; and the headers to send."""

    admitted: bool
    retry_after: float
    headers: list[tuple[bytes, bytes]]
    too_large: bool = False
    dimension: str = ""


@dataclass
class _KeyLimits:
    requests: WindowLimit | None
    tokens: WindowLimit | None


class RateLimiter:
    """RPM and TPM per API key, with OpenAI's ``x-ratelimit-*`` headers on every answer."""

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rpm = rpm
        self.tpm = tpm
        self.clock = clock
        self._keys: dict[str, _KeyLimits] = {}

    @property
    def enabled(self) -> bool:
        """Whether any limit is configured."""
        return self.rpm is not None or self.tpm is not None

    def reset(self) -> None:
        """Forget every key's usage."""
        self._keys.clear()

    def _limits(self, key: str, now: float) -> _KeyLimits:
        limits = self._keys.get(key)
        if limits is None:
            limits = _KeyLimits(
                WindowLimit(self.rpm, now) if self.rpm else None,
                WindowLimit(self.tpm, now) if self.tpm else None,
            )
            self._keys[key] = limits
        return limits

    def admit(self, key: str, tokens: int) -> Admission:
        """Admit one request costing `tokens`, or say how long until it would be admitted."""
        if not self.enabled:
            return Admission(True, 0.0, [])
        now = self.clock()
        limits = self._limits(key, now)
        wait_requests = limits.requests.wait_for(1, now) if limits.requests else 0.0
        wait_tokens = limits.tokens.wait_for(tokens, now) if limits.tokens else 0.0
        wait = max(wait_requests, wait_tokens)
        if wait > 0:
            dimension = "requests" if wait_requests >= wait_tokens else "tokens"
            return Admission(False, wait, _headers(limits, now), wait == NEVER, dimension=dimension)
        if limits.requests:
            limits.requests.commit(1, now)
        if limits.tokens:
            limits.tokens.commit(tokens, now)
        return Admission(True, 0.0, _headers(limits, now))


def _headers(limits: _KeyLimits, now: float) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    for names, window in ((_REQUEST_HEADERS, limits.requests), (_TOKEN_HEADERS, limits.tokens)):
        if window is None:
            continue
        window._advance(now)
        level = max(0.0, window.level)
        headers += [
            (names[0], window.limit_bytes),
            (names[1], str(int(level)).encode()),
            (names[2], format_duration((window.limit - level) / window.rate).encode()),
        ]
    return headers
