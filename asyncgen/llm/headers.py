"""Parse what an endpoint says about its limits: x-ratelimit-* and retry-after headers.

OpenAI sends ``x-ratelimit-limit-requests``, ``-remaining-requests`` and
``-reset-requests`` (and the same for ``tokens``); resets are Go-style durations such as
``"6m0s"``, ``"1s"`` or ``"20ms"``. Other providers send plain seconds.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
MAX_RETRY_AFTER = 300.0


@dataclass(frozen=True)
class RateLimitInfo:
    """One response's view of the endpoint's request and token buckets."""

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None

    @property
    def is_empty(self) -> bool:
        """True when the response carried no rate-limit header at all."""
        return self == _EMPTY


_EMPTY = RateLimitInfo()


@lru_cache(maxsize=4096)
def parse_duration(text: str) -> float | None:
    """Seconds in ``"6m0s"``, ``"1.5s"``, ``"20ms"``, ``"1h2m"`` or plain seconds; else None."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if value >= 0 else None
    total, pos = 0.0, 0
    for match in _PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    return total if pos == len(text) else None


def _int(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(float(raw))
    except ValueError:
        return None


def _duration(headers: Mapping[str, str], name: str) -> float | None:
    raw = headers.get(name)
    return None if raw is None else parse_duration(raw)


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitInfo:
    """Read the six ``x-ratelimit-*`` headers; missing or unreadable ones are None."""
    if "x-ratelimit-limit-requests" not in headers and "x-ratelimit-limit-tokens" not in headers:
        if "x-ratelimit-remaining-requests" not in headers:
            return _EMPTY
    return RateLimitInfo(
        limit_requests=_int(headers, "x-ratelimit-limit-requests"),
        remaining_requests=_int(headers, "x-ratelimit-remaining-requests"),
        reset_requests=_duration(headers, "x-ratelimit-reset-requests"),
        limit_tokens=_int(headers, "x-ratelimit-limit-tokens"),
        remaining_tokens=_int(headers, "x-ratelimit-remaining-tokens"),
        reset_tokens=_duration(headers, "x-ratelimit-reset-tokens"),
    )


def limit_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The rate-limit and retry-after headers of a raw header list, by lower-case name.

    One pass over the raw pairs: far cheaper than case-insensitive lookups on
    `httpx.Headers`, which matters at thousands of responses a second.
    """
    found: dict[str, str] = {}
    for name, value in raw:
        lowered = name.lower()
        if lowered.startswith((b"x-ratelimit-", b"retry-after")):
            found[lowered.decode("latin-1")] = value.decode("latin-1")
    return found


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the endpoint asks us to wait: ``retry-after-ms``, then ``retry-after``.

    ``retry-after`` may be seconds or an HTTP date; absurd values (negative, over
    five minutes) are ignored so one bad header cannot stall a run.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return _sane(float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = parse_duration(raw)
    if seconds is not None:
        return _sane(seconds)
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    wall = time.time() if now is None else now
    return _sane(email.utils.mktime_tz(parsed) - wall)


def _sane(seconds: float) -> float | None:
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER else None
