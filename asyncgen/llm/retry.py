"""Which failures are worth another attempt, and how long to wait before it.

Small pure functions in the manner of openai-python's ``_should_retry`` and
``_calculate_retry_timeout``. ``set_testing(True)`` makes every backoff instant, for
tests (the limiter's pauses still apply: they are behaviour, not politeness).

Backoff depends on how the endpoint is doing: `FaultRate` follows the share of its recent
attempts that failed on the server's side. At or below `escalate_above` failures are
sporadic (one request unlucky on a healthy endpoint): the first retry goes at once, as
urllib3 does, and later ones wait the first backoff step. Above it every retry backs off
exponentially. The idea of gRPC's retry throttling and the AWS SDKs' adaptive retry
mode: retry fast while retries are cheap for the server, back off hard when they would
pile onto an outage. Retries wait in the rate limiter either way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from asyncgen.config.llm import RetrySettings
from asyncgen.errors import (
    LLMConnectionError,
    LLMError,
    LLMStatusError,
    LLMTimeoutError,
    RateLimitError,
)
from asyncgen.llm.errors import (
    AuthenticationError,
    ContextLengthError,
    EmptyAnswerError,
    MalformedAnswerError,
    RejectedAnswerError,
    StreamCutError,
    TruncatedAnswerError,
)

# 408 timeout, 409 conflict, 429, 5xx, Cloudflare's 520-524 (origin unreachable or slow)
# and Anthropic's 529 (overloaded): each clears by waiting.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529})
OVERLOAD_STATUS = frozenset({503, 529})

_testing = False


class TestingMode:
    """What `set_testing` returns: as a context manager it puts the previous setting back."""

    def __init__(self, previous: bool) -> None:
        self._previous = previous

    def __enter__(self) -> TestingMode:
        return self

    def __exit__(self, *exc: object) -> None:
        global _testing
        _testing = self._previous


def set_testing(enabled: bool = True) -> TestingMode:
    """Make every retry backoff instant (tests); limiter pauses are unaffected.

    `with set_testing():` restores the previous setting on leaving, even after a failure
    (a bare `set_testing(True)` lasts until changed, and leaks into later tests if a
    test fails before switching it off).
    """
    global _testing
    previous, _testing = _testing, enabled
    return TestingMode(previous)


def is_testing() -> bool:
    """True while `set_testing(True)` is in force."""
    return _testing


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how patiently to retry."""

    max_retries: int = 6
    initial: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.5
    retry_on_length: bool = True
    escalate_above: float = 0.2
    rate_limit_patience: float = 600.0
    rate_limit_initial: float = 0.5

    @classmethod
    def from_settings(cls, settings: RetrySettings, max_retries: int | None = None) -> RetryPolicy:
        """Build from config; `max_retries` overrides the configured count."""
        return cls(
            max_retries=settings.max_retries if max_retries is None else max_retries,
            initial=settings.backoff_initial,
            maximum=settings.backoff_max,
            jitter=settings.backoff_jitter,
            retry_on_length=settings.retry_on_length,
            escalate_above=settings.escalate_above,
            rate_limit_patience=settings.rate_limit_patience,
            rate_limit_initial=settings.rate_limit_backoff,
        )


def failure_cause(exc: BaseException) -> str:
    """A short stable name for why a call failed: the key of the retry/failure counters."""
    if isinstance(exc, RateLimitError):
        return "rate_limited"
    if isinstance(exc, ContextLengthError):
        return "context_length"
    if isinstance(exc, AuthenticationError):
        return "auth"
    if isinstance(exc, RejectedAnswerError):
        return exc.cause
    if isinstance(exc, StreamCutError):
        return "stream_cut"
    if isinstance(exc, LLMStatusError):
        return f"http_{exc.status_code}"
    if isinstance(exc, LLMTimeoutError):
        return "timeout"
    if isinstance(exc, LLMConnectionError):
        return "connection"
    if isinstance(exc, TruncatedAnswerError):
        return "length"
    if isinstance(exc, EmptyAnswerError):
        return "empty"
    if isinstance(exc, MalformedAnswerError):
        return "malformed"
    if isinstance(exc, LLMError):
        return "response"
    return type(exc).__name__


def should_retry(exc: LLMError, policy: RetryPolicy) -> bool:
    """True for transient failures: 429, 5xx, 408/409, timeouts, broken connections, bad bodies."""
    if isinstance(exc, TruncatedAnswerError):
        return policy.retry_on_length
    if isinstance(exc, ContextLengthError | RejectedAnswerError):
        return False
    if isinstance(exc, LLMStatusError):
        return exc.status_code in RETRYABLE_STATUS
    return isinstance(exc, LLMConnectionError | EmptyAnswerError | MalformedAnswerError)


def calculate_retry_timeout(
    attempt: int,
    policy: RetryPolicy,
    rng: random.Random,
    retry_after: float | None = None,
    fault_share: float = 1.0,
    *,
    rate_limited: bool = False,
) -> float:
    """Seconds before retry `attempt` (1-based): the server's advice, else jittered backoff.

    A 429 with advice waits what it says (plus up to 5 % jitter, so refused requests do
    not return in one clump); without advice, `attempt` counts the request's 429s and the
    wait doubles from `rate_limit_initial` up to `maximum`, jittered over its upper half
    (AWS's "equal jitter"). Other failures: `fault_share` is the endpoint's recent
    server-side failure share (`FaultRate.value`); at or below `policy.escalate_above` the
    first retry is immediate and later ones stay at the first step.
    """
    if _testing:
        return 0.0
    if retry_after is not None and 0 <= retry_after <= 60:
        return retry_after + rng.uniform(0, 0.05 * max(retry_after, 0.2))
    if rate_limited:
        delay = min(policy.rate_limit_initial * 2.0 ** (attempt - 1), policy.maximum)
        return delay * (0.5 + 0.5 * rng.random())
    if fault_share > policy.escalate_above:
        steps = attempt - 1
    elif attempt == 1:
        return 0.0
    else:
        steps = 0
    delay = min(policy.initial * 2.0**steps, policy.maximum)
    return delay * (1.0 - policy.jitter * rng.random())


SERVER_FAULTS = frozenset(
    {"overloaded", "timeout", "connection", "malformed", "empty", "response", "stream_cut"}
)


def is_server_fault(outcome: str) -> bool:
    """True for an attempt outcome the endpoint is to blame for (5xx, broken or bad answers)."""
    return outcome in SERVER_FAULTS or outcome.startswith("http_5")


class FaultRate:
    """The share of an endpoint's recent attempts that failed on its side, as an EWMA.

    Starts at 0 (an endpoint is presumed well); over `span` attempts a sustained failure
    rate takes over: from 0, a burst of ten straight failures reads as about 0.27.
    """

    def __init__(self, span: int = 32) -> None:
        self._alpha = 1.0 / span
        self.value = 0.0

    def observe(self, outcome: str) -> None:
        """Fold in one attempt's outcome ("ok", "rate_limited", or a failure cause)."""
        if outcome == "rate_limited":
            return  # the limiter's business: a 429 says nothing about the endpoint's health
        failed = 1.0 if is_server_fault(outcome) else 0.0
        self.value += self._alpha * (failed - self.value)
