"""One benchmark request's outcome, and how a failure is named.

Every request a step sends ends as exactly one `Sample`: a success or a failure with a
kind, so the statistics never silently drop an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from asyncgen.errors import (
    LLMConnectionError,
    LLMError,
    LLMResponseError,
    LLMStatusError,
    LLMTimeoutError,
    RateLimitError,
)
from asyncgen.llm.headers import RateLimitInfo

OK = "ok"
RATE_LIMITED = "429"
UNFINISHED = "unfinished"
CLIENT_LIMIT = "client_limit"
NOT_ADMITTED = frozenset({RATE_LIMITED, CLIENT_LIMIT, "connection"})
# The earliest phrase wins (at one position, the first alternative): Anthropic's "600
# requests per minute … reduce … the maximum tokens requested" is a request limit.
_DIMENSION_PHRASES = re.compile(
    r"(?P<input_tokens>input tokens?)|(?P<output_tokens>output tokens?)"
    r"|(?P<requests_per_day>requests? per day|\(RPD\))|(?P<concurrency>concurren)"
    r"|(?P<tokens>tokens? per|token rate|\(TPM\))"
    r"|(?P<requests>requests? per|call rate|\(RPM\))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Sample:
    """What one request did.

    `latency` is the endpoint's time (from the transport's send to the last byte);
    `client_wait` is time the request spent inside the client before it was sent.
    `reserved_tokens` is prompt tokens plus the requested max_tokens: what a TPM limit
    charges when the request is admitted (OpenAI's rule, the simulator's and our limiter's).
    """

    start: float
    latency: float
    kind: str = OK
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reserved_tokens: int = 0
    ttft: float | None = None
    itl: tuple[float, ...] = field(default=())
    retry_after: float | None = None
    client_wait: float = 0.0
    limit_dimension: str | None = None

    @property
    def is_ok(self) -> bool:
        """True when the request produced a usable answer."""
        return self.kind == OK

    @property
    def is_rate_limited(self) -> bool:
        """True for a 429."""
        return self.kind == RATE_LIMITED

    @property
    def was_admitted(self) -> bool:
        """True when the endpoint's limiter let the request through (any outcome but a 429
        or a request that never left the client)."""
        return self.kind not in NOT_ADMITTED


@dataclass(frozen=True)
class LimitSample:
    """One response's x-ratelimit-* headers and when they arrived."""

    at: float
    info: RateLimitInfo


def classify(exc: BaseException) -> str:
    """A short stable name for a failure: "429", "503", "timeout", "connection", …."""
    if isinstance(exc, RateLimitError):
        return RATE_LIMITED
    if isinstance(exc, LLMStatusError):
        return str(exc.status_code)
    if isinstance(exc, LLMTimeoutError):
        return "timeout"
    if isinstance(exc, LLMConnectionError):
        return "connection"
    if type(exc) is LLMResponseError:
        return "bad_response"
    if isinstance(exc, LLMResponseError):
        return _snake(type(exc).__name__.removesuffix("Error"))
    if isinstance(exc, LLMError):
        return "llm_error"
    return f"exception:{type(exc).__name__}"


def _snake(name: str) -> str:
    """``MalformedAnswer`` → ``malformed_answer``."""
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def retry_after_of(exc: BaseException) -> float | None:
    """The server's Retry-After advice carried by a 429, if any."""
    return exc.retry_after if isinstance(exc, RateLimitError) else None


def limit_dimension_of(exc: BaseException) -> str | None:
    """Which limit a 429 names ("requests", "tokens", …), read from its message; else None.

    Providers say it in words: OpenAI "… on tokens per min (TPM)", Groq "… requests per
    day (RPD)", Azure "… exceeded call rate limit", Anthropic "… 600 requests per minute".
    """
    if not isinstance(exc, RateLimitError):
        return None
    match = _DIMENSION_PHRASES.search(str(exc))
    return None if match is None else match.lastgroup
