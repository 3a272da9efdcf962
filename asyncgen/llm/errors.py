"""Precise subclasses of the asyncgen error tree, so retries and counters can tell causes apart.

LLMStatusError
├── AuthenticationError   401/403: the key is missing, wrong or lacks access
└── ContextLengthError    400: the prompt plus max_tokens exceed the model's context
LLMResponseError
├── MalformedAnswerError  the body is not the chat-completions JSON
│   └── StreamCutError    a stream that errored mid-way or ended before [DONE] (retried)
├── EmptyAnswerError      the answer has no content
├── TruncatedAnswerError  finish_reason "length" where a complete answer was required
└── RejectedAnswerError   the provider answered but will not give this text (not retried)
    ├── ContentFilterError   finish_reason "content_filter"
    ├── RefusalError         a `refusal` instead of content
    ├── ToolCallsError       tool_calls where text was asked for
    └── ProviderError        HTTP 200 carrying an {"error": …} body
BudgetExceededError
└── QuotaExhaustedError   the account is out of credit (insufficient_quota, billing):
    └── LimitExhaustedError   or a long-window budget (a daily limit) is spent: the run
                              stops, items not done stay unstarted, a rerun continues
"""

from __future__ import annotations

from typing import Any

from asyncgen.errors import BudgetExceededError, LLMResponseError, LLMStatusError, RequestInfo

__all__ = [
    "AuthenticationError",
    "ContentFilterError",
    "ContextLengthError",
    "EmptyAnswerError",
    "LimitExhaustedError",
    "MalformedAnswerError",
    "ProviderError",
    "QuotaExhaustedError",
    "RefusalError",
    "RejectedAnswerError",
    "StreamCutError",
    "ToolCallsError",
    "TruncatedAnswerError",
]


class AuthenticationError(LLMStatusError):
    """401/403: fix the key in the environment variable the message names."""


class ContextLengthError(LLMStatusError):
    """The request does not fit the model's context window; retrying cannot help."""


class MalformedAnswerError(LLMResponseError):
    """The body could not be parsed as a chat completion."""


class StreamCutError(MalformedAnswerError):
    """The event stream reported an error or ended before ``[DONE]``: never an answer."""


class EmptyAnswerError(LLMResponseError):
    """The completion carried no text."""


class TruncatedAnswerError(LLMResponseError):
    """The answer stopped at max_tokens although the caller needs it whole."""


class RejectedAnswerError(LLMResponseError):
    """The provider answered, but not with usable text; asking again gets the same."""

    cause = "rejected"


class ContentFilterError(RejectedAnswerError):
    """finish_reason "content_filter": the provider's filter withheld the answer."""

    cause = "content_filter"


class RefusalError(RejectedAnswerError):
    """The model refused (a `refusal` field instead of content)."""

    cause = "refusal"


class ToolCallsError(RejectedAnswerError):
    """The model called a tool where text was asked for."""

    cause = "tool_calls"


class ProviderError(RejectedAnswerError):
    """HTTP 200 whose body is an error object (OpenRouter relays upstream errors so)."""

    cause = "provider_error"

    def __init__(self, message: str, *, code: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.code = code


class QuotaExhaustedError(BudgetExceededError):
    """The provider will not serve this key until someone acts (credit, billing, plan).

    Not an `LLMError`: pipelines let it through, the engine stops the run and leaves the
    items not done unstarted, so a rerun after topping up continues.
    """

    stops_run = True

    def __init__(self, message: str, *, request: RequestInfo | None = None) -> None:
        super().__init__(message)
        self.request = request or {}


class LimitExhaustedError(QuotaExhaustedError):
    """A long-window limit (requests per day) is spent; it refills too late to wait for."""
