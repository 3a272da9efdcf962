"""The transport: every model call in asyncgen goes through one `Transport`.

Rate limits (configured or learned from ``x-ratelimit-*`` headers), classified retries,
the weighted model pool, usage, cost and budgets, and counters for progress and bench.
Tests make backoff instant with ``asyncgen.llm.retry.set_testing(True)``.
`StreamResult` (the SSE reader's module) loads when first named: whole answers never need it.
"""

from typing import TYPE_CHECKING, Any

from asyncgen.llm.errors import (
    AuthenticationError,
    ContextLengthError,
    EmptyAnswerError,
    MalformedAnswerError,
    TruncatedAnswerError,
)
from asyncgen.llm.headers import (
    RateLimitInfo,
    parse_duration,
    parse_rate_limit_headers,
    parse_retry_after,
)
from asyncgen.llm.limiter import RateLimiter
from asyncgen.llm.pool import ModelPool
from asyncgen.llm.retry import (
    RetryPolicy,
    calculate_retry_timeout,
    failure_cause,
    set_testing,
    should_retry,
)
from asyncgen.llm.transport import Transport
from asyncgen.llm.types import ChatClient, ChatRequest, ChatResult, Message, ModelHandle
from asyncgen.llm.usage import UsageMeter

if TYPE_CHECKING:
    from asyncgen.llm.stream import StreamResult

__all__ = [
    "AuthenticationError",
    "ChatClient",
    "ChatRequest",
    "ChatResult",
    "ContextLengthError",
    "EmptyAnswerError",
    "MalformedAnswerError",
    "Message",
    "ModelHandle",
    "ModelPool",
    "RateLimitInfo",
    "RateLimiter",
    "RetryPolicy",
    "StreamResult",
    "Transport",
    "TruncatedAnswerError",
    "UsageMeter",
    "calculate_retry_timeout",
    "failure_cause",
    "parse_duration",
    "parse_rate_limit_headers",
    "parse_retry_after",
    "set_testing",
    "should_retry",
]


def __getattr__(name: str) -> Any:
    if name == "StreamResult":
        from asyncgen.llm.stream import StreamResult

        return StreamResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
