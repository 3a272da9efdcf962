"""Parse what an endpoint says about its limits and about when to retry.

Header families (each read into one `RateLimitInfo`, resets as seconds from now):

- OpenAI: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``; resets are Go-style
  durations (``6m0s``, ``1s``, ``20ms``), the time until the bucket is full again.
- Azure OpenAI: the same names; ``-1`` means "not limited" and is never a limit; some
  deployments send only ``x-ratelimit-remaining-tokens`` (then `remaining_tokens` alone).
- Anthropic: ``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
  {limit,remaining,reset}``, resets as RFC 3339 times; input and output token limits are
  kept apart (`limit_input_tokens`, `limit_output_tokens`).
- OpenRouter: ``X-RateLimit-{Limit,Remaining,Reset}`` (requests), reset in epoch ms.
- Groq: OpenAI's names, but ``limit-requests`` counts a day: recognised by its refill
  (``reset`` long past a minute's worth), it is reported as `daily_requests`, never RPM.
- Together: ``x-ratelimit-{limit,remaining,reset}`` (requests) and
  ``x-tokenlimit-{limit,remaining}`` (tokens), per second: read as 60 x per minute.
- LiteLLM proxy (``x-litellm-*`` or ``llm_provider-*`` headers): its ``x-ratelimit-*``
  are the upstream's, passed through (they equal the ``llm_provider-x-ratelimit-*``
  copies) and describe a server asyncgen does not talk to, so they are dropped; only
  values that differ from the upstream copy (a proxy key's own limits) are kept.

Retry hints: ``retry-after-ms``, ``retry-after`` (seconds or HTTP date),
``llm_provider-retry-after`` and OpenAI's "Please try again in 20ms" in a 429 message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from functools import lru_cache

_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_TRY_AGAIN = re.compile(r"try again in (\d+(?:\.\d+)?)\s*(ms|s|seconds?|milliseconds?)\b", re.I)
MAX_RETRY_AFTER = 300.0
PROXY_ADVICE_CAP = 10.0  # a LiteLLM router answers "llm_provider-retry-after: 60" whatever
# its window has left (its deployment cooldown); a refusal is free, so ask again sooner
MINUTE = 60.0
_EPOCH_MS = 1e12  # a reset this large is a Unix time in milliseconds
_EPOCH_S = 1e9  # ... in seconds


@dataclass(frozen=True)
class RateLimitInfo:
    """One response's view of the endpoint's limits; resets are seconds from now.

    `limit_requests` is a per-minute request limit; a per-day one (Groq) is in
    `daily_requests` instead, with its `remaining_requests`; a limit on requests in flight
    (slots taken but nothing to refill: reset 0) is in `concurrency`.
    """

    limit_requests: int | None = None
    remaining_requests: int | None = None
    reset_requests: float | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None
    reset_tokens: float | None = None
    limit_input_tokens: int | None = None
    remaining_input_tokens: int | None = None
    reset_input_tokens: float | None = None
    limit_output_tokens: int | None = None
    remaining_output_tokens: int | None = None
    reset_output_tokens: float | None = None
    daily_requests: int | None = None
    fixed_window_requests: bool = False
    concurrency: int | None = None

    @property
    def is_empty(self) -> bool:
        """True when the response carried no usable rate-limit header at all."""
        return self == _EMPTY


_EMPTY = RateLimitInfo()
_FIELDS = tuple(f.name for f in fields(RateLimitInfo))


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


def parse_reset(text: str, now: float | None = None) -> float | None:
    """Seconds until a reset given as a duration, an epoch (s or ms) or an RFC 3339 time."""
    seconds = parse_duration(text)
    wall = time.time() if now is None else now
    if seconds is not None:
        if seconds >= _EPOCH_MS:
            return max(0.0, seconds / 1000.0 - wall)
        if seconds >= _EPOCH_S:
            return max(0.0, seconds - wall)
        return seconds
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - wall)


def _count(headers: Mapping[str, str], name: str) -> int | None:
    """A limit or remaining count; ``-1`` (Azure: not limited) and garbage are None."""
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(float(raw))
    except ValueError:
        return None
    return value if value >= 0 else None


def _reset(headers: Mapping[str, str], name: str, now: float | None) -> float | None:
    raw = headers.get(name)
    return None if raw is None else parse_reset(raw, now)


def _positive(value: int | None) -> int | None:
    return value if value else None


def parse_rate_limit_headers(headers: Mapping[str, str], now: float | None = None) -> RateLimitInfo:
    """Read any known header family into one `RateLimitInfo` (missing parts are None).

    Args:
        headers: lower-case names (`limit_headers`) or a case-insensitive mapping.
        now: wall-clock time for absolute resets (default `time.time()`).
    """
    if _is_litellm(headers):
        headers = _own_headers(headers)
    values: dict[str, object] = {}
    _read_openai(headers, values, now)
    _read_anthropic(headers, values, now)
    _read_together_openrouter(headers, values, now)
    if not values:
        return _EMPTY
    _classify_requests(values)
    return RateLimitInfo(**{k: v for k, v in values.items() if k in _FIELDS})  # type: ignore[arg-type]


def _put(values: dict[str, object], name: str, value: object) -> None:
    if value is not None and values.get(name) is None:
        values[name] = value


def _read_openai(headers: Mapping[str, str], values: dict[str, object], now: float | None) -> None:
    for dim in ("requests", "tokens"):
        _put(values, f"limit_{dim}", _positive(_count(headers, f"x-ratelimit-limit-{dim}")))
        _put(values, f"remaining_{dim}", _count(headers, f"x-ratelimit-remaining-{dim}"))
        _put(values, f"reset_{dim}", _reset(headers, f"x-ratelimit-reset-{dim}", now))


def _read_anthropic(
    headers: Mapping[str, str], values: dict[str, object], now: float | None
) -> None:
    for dim, name in (
        ("requests", "requests"),
        ("input_tokens", "input-tokens"),
        ("output_tokens", "output-tokens"),
        ("tokens", "tokens"),
    ):
        prefix = f"anthropic-ratelimit-{name}-"
        _put(values, f"limit_{dim}", _positive(_count(headers, prefix + "limit")))
        _put(values, f"remaining_{dim}", _count(headers, prefix + "remaining"))
        _put(values, f"reset_{dim}", _reset(headers, prefix + "reset", now))
    if values.get("limit_input_tokens") or values.get("limit_output_tokens"):
        # "tokens" is the most restrictive of the two: the split ones are the truth
        for part in ("limit", "remaining", "reset"):
            if headers.get(f"anthropic-ratelimit-tokens-{part}") is not None:
                values.pop(f"{part}_tokens", None)


def _read_together_openrouter(
    headers: Mapping[str, str], values: dict[str, object], now: float | None
) -> None:
    """Unsuffixed ``x-ratelimit-*``: OpenRouter's per-minute window ending at an epoch-ms
    moment, or Together's per-second limits (also ``x-tokenlimit-*``), read as per minute."""
    limit = _positive(_count(headers, "x-ratelimit-limit"))
    raw_reset = headers.get("x-ratelimit-reset", "")
    per_second = (parse_duration(raw_reset) or 0.0) < _EPOCH_S  # not OpenRouter: Together
    scale = 60 if per_second else 1
    if limit is not None or headers.get("x-ratelimit-remaining") is not None:
        _put(values, "limit_requests", None if limit is None else limit * scale)
        _put(values, "remaining_requests", _count(headers, "x-ratelimit-remaining"))
        _put(values, "reset_requests", _reset(headers, "x-ratelimit-reset", now))
        if not per_second:  # a window that ends at a moment, refilled all at once
            values["fixed_window_requests"] = True
    token_limit = _positive(_count(headers, "x-tokenlimit-limit"))
    _put(values, "limit_tokens", None if token_limit is None else token_limit * 60)
    _put(values, "remaining_tokens", _count(headers, "x-tokenlimit-remaining"))


def _classify_requests(values: dict[str, object]) -> None:
    """Move a request limit whose reset lies well past a minute to `daily_requests`, and
    one whose used part refills at once (reset 0) to `concurrency`.

    A per-minute limit (a continuous bucket or a fixed window) is full again within a
    minute; Groq's per-day request limit reports resets of minutes to hours once a few
    requests are used (``2m59.56s`` after 30 of 14,400).
    """
    reset = values.get("reset_requests")
    if isinstance(reset, float | int) and reset > MINUTE * 1.5 and "limit_requests" in values:
        values["daily_requests"] = values.pop("limit_requests")
    limit, remaining = values.get("limit_requests"), values.get("remaining_requests")
    if reset == 0 and isinstance(limit, int) and isinstance(remaining, int) and remaining < limit:
        # requests used that refill in no time: slots in flight, not a rate
        values["concurrency"] = values.pop("limit_requests")


def _is_litellm(headers: Mapping[str, str]) -> bool:
    """A LiteLLM proxy: its own ``x-litellm-*`` headers, or upstream ``llm_provider-`` copies."""
    return any(str(name).lower().startswith(_PROXY_MARKS) for name in headers)


_PROXY_MARKS = ("x-litellm-", "llm_provider-")


def _own_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A LiteLLM proxy's headers without the upstream's limits it passes through."""
    own: dict[str, str] = {}
    for name, value in headers.items():
        lowered = str(name).lower()
        if lowered.startswith("llm_provider-"):
            continue
        if lowered.startswith(("x-ratelimit-", "x-tokenlimit-", "anthropic-ratelimit-")):
            upstream = headers.get(f"llm_provider-{lowered}")
            if upstream is None or upstream == value:
                continue  # the upstream's limit: the proxy's own are not these
        own[lowered] = value
    return own


_LIMIT_PREFIXES = (
    b"x-ratelimit-",
    b"retry-after",
    b"x-tokenlimit-",
    b"anthropic-ratelimit-",
    b"llm_provider-",
    b"x-litellm-",
)


def limit_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The rate-limit and retry headers of a raw header list, by lower-case name.

    One pass over the raw pairs: far cheaper than case-insensitive lookups on
    `httpx.Headers`, which matters at thousands of responses a second.
    """
    found: dict[str, str] = {}
    for name, value in raw:
        lowered = name.lower()
        if lowered.startswith(_LIMIT_PREFIXES):
            found[lowered.decode("latin-1")] = value.decode("latin-1")
    return found


def parse_retry_after(
    headers: Mapping[str, str], now: float | None = None, message: str | None = None
) -> float | None:
    """Seconds the endpoint asks us to wait, or None when it gives no hint.

    In order: ``retry-after-ms``, ``retry-after`` (seconds or an HTTP date),
    ``llm_provider-retry-after`` (a LiteLLM proxy's; at most `PROXY_ADVICE_CAP`), then
    "try again in 20ms" / "1.5s" in the error `message` (OpenAI). Absurd values
    (negative, over five minutes) are ignored so one bad header cannot stall a run.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return _sane(float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is not None:
        seconds = _seconds_or_date(raw, now)
        if seconds is not None:
            return seconds
    raw = headers.get("llm_provider-retry-after")
    if raw is not None:
        seconds = _seconds_or_date(raw, now)
        if seconds is not None:  # LiteLLM's cooldown (a constant 60): ask again sooner
            return min(seconds, PROXY_ADVICE_CAP)
    if message:
        return retry_after_in_message(message)
    return None


def retry_after_in_message(message: str) -> float | None:
    """OpenAI's "Please try again in 20ms" / "in 1.5s" as seconds, else None."""
    match = _TRY_AGAIN.search(message)
    if match is None:
        return None
    value, unit = float(match.group(1)), match.group(2).lower()
    return _sane(value / 1000.0 if unit.startswith("m") else value)


def long_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """A ``retry-after`` beyond what `parse_retry_after` accepts (a spent daily budget)."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = parse_duration(raw)
    if seconds is None:
        date = _http_date(raw)
        if date is None:
            return None
        seconds = date - (time.time() if now is None else now)
    return seconds if seconds > MAX_RETRY_AFTER else None


def _seconds_or_date(raw: str, now: float | None) -> float | None:
    seconds = parse_duration(raw)
    if seconds is not None:
        return _sane(seconds)
    date = _http_date(raw)
    if date is None:
        return None
    wall = time.time() if now is None else now
    return _sane(max(0.0, date - wall))


def _http_date(raw: str) -> float | None:
    """An HTTP date as epoch seconds (None: not one); the email parser loads at the first
    date a server sends, not at start-up."""
    import email.utils

    parsed = email.utils.parsedate_tz(raw)
    return None if parsed is None else float(email.utils.mktime_tz(parsed))


def _sane(seconds: float) -> float | None:
    return seconds if 0 <= seconds <= MAX_RETRY_AFTER else None
