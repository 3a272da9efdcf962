"""Rate limits per API key: requests and tokens, by any algorithm of `asyncgen.sim.algorithms`.

`RateLimiter(rpm, tpm, algorithm=...)` keeps, per bearer token, one window per limited
dimension: ``requests`` (cost 1; per minute, or per day with ``daily``/`rpd`, or in
flight with ``concurrency``) and ``tokens`` (cost = prompt tokens + ``max_tokens``, or +
the answer's tokens when ``max_tokens`` is absent; per minute). A request is admitted only
when every dimension admits it. A refused request consumes nothing, unless
`refused_use_quota` (then it is charged as if admitted: the client's hammering pushes its
own next admission further out). The verdict (`Admission`) carries each dimension's state
(limit, remaining, seconds until whole) for the header dialects; on a refusal the refusing
dimension reports remaining 0. A request whose cost exceeds a whole per-minute limit can
never pass (`too_large`).

The default algorithm is ``token_bucket``: a minute bucket refilling at `limit / 60` per
second plus a 1 s sub-window bucket of ``ceil(limit / 60 × 1.1)`` (one second's share and
10 % burst): 60,000 RPM is enforced as 1,000/s with bursts of 1,100.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from asyncgen.config.sim import Algorithm, RetryAfterStyle, limiter_problem
from asyncgen.errors import ConfigError
from asyncgen.sim.algorithms import (
    DAY,
    MINUTE,
    NEVER,
    ConcurrencyLimit,
    FixedWindow,
    Gcra,
    RollingWindow,
    TokenBucket,
    Window,
)

__all__ = [
    "ALGORITHMS",
    "BURST_ALLOWANCE",
    "Admission",
    "DimensionState",
    "RateLimiter",
    "format_duration",
    "retry_after_headers",
]

ALGORITHMS: dict[str, str] = {
    "token_bucket": "minute bucket + 1 s sub-window bucket with 10 % burst (OpenAI-like)",
    "rolling": "sliding log: the last 60 s and a pro-rata sub-window (1 s or 10 s)",
    "fixed_minute": "fixed windows aligned to the clock minute",
    "fixed_10s": "fixed clock-aligned 10 s windows of limit/6 (Azure OpenAI)",
    "gcra": "generic cell rate algorithm, burst = gcra_burst seconds of the rate",
    "concurrency": "requests in flight per key (concurrency_limit); no rate",
    "daily": "requests per day (rpd) as a bucket refilling over 24 h, tokens per minute",
}
BURST_ALLOWANCE = 0.1
# Which cost a dimension is charged: 1, the tokens, the input tokens, the output tokens.
_COST_INDEX = {
    "requests": 0,
    "requests_minute": 0,
    "tokens": 1,
    "input_tokens": 2,
    "output_tokens": 3,
}
HEADER_KINDS = ("limit", "remaining", "reset")
OPENAI_NAMES = {
    dim: tuple(f"x-ratelimit-{what}-{dim}".encode() for what in HEADER_KINDS)
    for dim in ("requests", "tokens")
}


def format_duration(seconds: float) -> str:
    """OpenAI's reset format (Go durations): ``"20ms"``, ``"1s"``, ``"1.5s"``, ``"6m0s"``."""
    if seconds <= 0:
        return "0s"
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    minutes, rest = divmod(round(seconds, 3), 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    if minutes >= 60:
        hours, minutes = divmod(int(minutes), 60)
        return f"{hours}h{minutes}m{text}"
    return f"{int(minutes)}m{text}" if minutes else text


def retry_after_headers(
    style: RetryAfterStyle, wait: float, wall: float
) -> list[tuple[bytes, bytes]]:
    """The retry hint of a 429 in `style`.

    ``seconds``: ``retry-after`` in whole seconds rounded up, at least 1; ``ms``:
    ``retry-after-ms`` in milliseconds rounded up, at least 1; ``seconds_and_ms``: both
    (the default); ``date``: ``retry-after`` as an HTTP date (RFC 9110) at least one
    second ahead; ``llm_provider``: only ``llm_provider-retry-after`` in whole seconds (a
    LiteLLM proxy's own 429); ``none``: no hint at all.
    """
    if style == "none":
        return []
    seconds = max(1, math.ceil(wait))
    if style == "llm_provider":
        return [(b"llm_provider-retry-after", str(seconds).encode())]
    if style == "date":
        date = email.utils.formatdate(math.floor(wall) + seconds, usegmt=True)
        return [(b"retry-after", date.encode())]
    millis = [(b"retry-after-ms", str(max(1, math.ceil(wait * 1000))).encode())]
    if style == "ms":
        return millis
    whole = [(b"retry-after", str(seconds).encode())]
    return whole if style == "seconds" else whole + millis


@dataclass(frozen=True)
class DimensionState:
    """One dimension as the headers describe it."""

    name: str  # "requests" or "tokens"
    limit: int
    remaining: int
    reset: float  # seconds until the allowance is whole again


def openai_headers(state: DimensionState) -> list[tuple[bytes, bytes]]:
    """One dimension's OpenAI limit, remaining and reset headers ([] for a dimension
    OpenAI names none for)."""
    names = OPENAI_NAMES.get(state.name)
    if names is None:
        return []
    return [
        (names[0], str(state.limit).encode()),
        (names[1], str(state.remaining).encode()),
        (names[2], format_duration(state.reset).encode()),
    ]


@dataclass
class Admission:
    """The verdict on one request: admitted, or how long to wait; and the limit state."""

    admitted: bool
    retry_after: float
    states: list[DimensionState] = field(default_factory=list)
    too_large: bool = False
    dimension: str = ""  # the refusing dimension
    limit: int = 0  # its limit
    used: int = 0  # what of it was in use
    slot: Window | None = None  # a concurrency window to release when the reply ends

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        """OpenAI's ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` headers."""
        return [header for state in self.states for header in openai_headers(state)]

    def release(self) -> None:
        """The admitted request has finished (frees its concurrency slot, if any)."""
        if self.slot is not None:
            self.slot.release()
            self.slot = None


class RateLimiter:
    """Per-key limits on requests and tokens, enforced by one algorithm.

    Args:
        rpm: requests per minute (per day's share for ``daily`` is `rpd`; unused by
            ``concurrency``).
        tpm: tokens per minute.
        algorithm: one of `ALGORITHMS`.
        rpd: requests per day (``daily`` only).
        concurrency: requests in flight per key (``concurrency`` only).
        sub_window: the ``rolling`` sub-window in seconds (1 or 10 are the usual), also the
            ``token_bucket`` sub-window.
        burst_allowance: the ``token_bucket`` sub-window's extra share (0.1 = 10 %).
        gcra_burst: the ``gcra`` burst tolerance in seconds of the rate (at least 1 request).
        refused_use_quota: charge refused requests as if admitted.
        clock: monotonic seconds, called once per `admit`.
        wall: UNIX seconds, read once (only by the clock-aligned fixed windows).

    Raises:
        ConfigError: a limit the algorithm does not use, or one it needs is missing.
    """

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        *,
        algorithm: Algorithm = "token_bucket",
        rpd: int | None = None,
        concurrency: int | None = None,
        input_tpm: int | None = None,
        output_tpm: int | None = None,
        sub_window: float = 1.0,
        burst_allowance: float = BURST_ALLOWANCE,
        gcra_burst: float = 1.0,
        refused_use_quota: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        _check_limits(algorithm, rpm, tpm, rpd, concurrency)
        self.algorithm = algorithm
        self.rpm = rpm
        self.tpm = tpm
        self.rpd = rpd
        self.input_tpm = input_tpm
        self.output_tpm = output_tpm
        self.concurrency = concurrency
        self.sub_window = sub_window
        self.burst_allowance = burst_allowance
        self.gcra_burst = gcra_burst
        self.refused_use_quota = refused_use_quota and algorithm != "concurrency"
        self.clock = clock
        self.wall = wall
        self._epoch_offset: float | None = None
        self._keys: dict[str, list[tuple[str, Window, int]]] = {}
        self.request_limit = {"daily": rpd, "concurrency": concurrency}.get(algorithm, rpm)

        self._dimensions: list[tuple[str, int]] = [
            (name, limit)
            for name, limit in (
                ("requests", self.request_limit),
                ("requests_minute", rpm if algorithm == "daily" else None),
                ("tokens", tpm),
                ("input_tokens", input_tpm),
                ("output_tokens", output_tpm),
            )
            if limit is not None
        ]

    @property
    def enabled(self) -> bool:
        """Whether any limit is configured."""
        return bool(self._dimensions)

    @property
    def limits_tokens(self) -> bool:
        """Whether any token dimension is limited (the charge then needs the answer's size)."""
        return any(name != "requests" and name != "requests_minute" for name, _ in self._dimensions)

    def reset(self) -> None:
        """Forget every key's usage."""
        self._keys.clear()

    def _window(self, dimension: str, limit: int, now: float) -> Window:
        algorithm = self.algorithm
        if algorithm == "token_bucket":
            return TokenBucket(limit, now, sub_window=self.sub_window, burst=self.burst_allowance)
        if algorithm == "rolling":
            return RollingWindow(limit, sub_window=self.sub_window)
        if algorithm in ("fixed_minute", "fixed_10s"):
            if self._epoch_offset is None:
                self._epoch_offset = self.wall() - now
            if algorithm == "fixed_10s":
                return FixedWindow(limit, period=10.0, epoch_offset=self._epoch_offset, share=6)
            return FixedWindow(limit, period=MINUTE, epoch_offset=self._epoch_offset)
        if algorithm == "gcra":
            burst = max(1, math.ceil(limit / MINUTE * self.gcra_burst))
            return Gcra(limit, now, burst=burst)
        if algorithm == "concurrency":
            return ConcurrencyLimit(limit)
        # daily: requests per day as a day-long bucket; the rest per minute as buckets
        if dimension == "requests":
            return TokenBucket(limit, now, period=DAY, sub_window=None)
        return TokenBucket(limit, now, sub_window=self.sub_window, burst=self.burst_allowance)

    def _limits(self, key: str, now: float) -> list[tuple[str, Window, int]]:
        windows = self._keys.get(key)
        if windows is None:
            windows = [
                (name, self._window(name, limit, now), _COST_INDEX[name])
                for name, limit in self._dimensions
            ]
            self._keys[key] = windows
        return windows

    def peek(self, key: str) -> list[DimensionState]:
        """The key's state without charging anything (for answers refused before admission)."""
        windows = self._keys.get(key)
        if windows is None:
            return [DimensionState(name, limit, limit, 0.0) for name, limit in self._dimensions]
        now = self.clock()
        return [DimensionState(name, w.limit, *w.state(now)) for name, w, _ in windows]

    def admit(self, key: str, tokens: int, prompt_tokens: int = 0) -> Admission:
        """Admit one request costing `tokens` (of which `prompt_tokens` are input), or say
        how long until it would be admitted."""
        if not self.enabled:
            return Admission(True, 0.0)
        now = self.clock()
        windows = self._limits(key, now)
        costs = (1, tokens, prompt_tokens, tokens - prompt_tokens)
        wait = 0.0
        refusing = ""
        for name, window, which in windows:
            needed = window.wait_for(costs[which], now)
            if needed > wait:
                wait, refusing = needed, name
        if wait == 0 or (self.refused_use_quota and wait != NEVER):
            for _, window, which in windows:
                window.commit(costs[which], now)
        states = []
        used = limit = 0
        for name, window, _ in windows:
            remaining, reset = window.state(now)
            if name == refusing:
                used, limit, remaining = window.limit - remaining, window.limit, 0
            states.append(DimensionState(name, window.limit, remaining, reset))
        if wait > 0:
            return Admission(False, wait, states, wait == NEVER, refusing, limit, used)
        slot = windows[0][1] if self.algorithm == "concurrency" else None
        return Admission(True, 0.0, states, slot=slot)


def _check_limits(
    algorithm: str, rpm: int | None, tpm: int | None, rpd: int | None, concurrency: int | None
) -> None:
    if algorithm not in ALGORITHMS:
        known = ", ".join(ALGORITHMS)
        raise ConfigError(f"sim.limiter: unknown algorithm {algorithm!r} (one of {known})")
    problem = limiter_problem(algorithm, rpm, tpm, rpd, concurrency)
    if problem is not None:
        raise ConfigError(problem)
