"""The one exception tree of asyncgen.

Only the CLI turns these into messages and exit codes; everything below it raises.

    AsyncgenError
    ├── ConfigError            bad YAML, unknown key, out-of-range value, missing secret
    ├── PromptError            a prompt template is missing, has no kind, or lacks a field
    ├── DatasetError           a dataset or persona file is malformed (file, row, field)
    ├── EmbeddingError         the embedding model cannot load or encode
    ├── StoreError             the run directory cannot be written, resumed or read
    │   └── RunLockedError     another live process is writing the same run directory
    ├── BudgetExceededError    --max-cost / --max-tokens spent: no new work is started
    ├── ClusterError           a Ray cluster part (coordinator, dedup service, every worker) is gone
    └── LLMError(request)      a model call that did not produce a usable answer
        ├── LLMConnectionError     the endpoint could not be reached, or dropped us
        │   └── LLMTimeoutError    no answer within the configured timeout
        ├── LLMStatusError(status_code, body, request_id)
        │   ├── RateLimitError(retry_after)    429
        │   └── ServerError                    5xx
        └── LLMResponseError       unparseable, empty or truncated answer
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "AsyncgenError",
    "BudgetExceededError",
    "ClusterError",
    "ConfigError",
    "ConfigFrozenError",
    "DatasetError",
    "EmbeddingError",
    "LLMConnectionError",
    "LLMError",
    "LLMResponseError",
    "LLMStatusError",
    "LLMTimeoutError",
    "PromptError",
    "RateLimitError",
    "RunLockedError",
    "ServerError",
    "StoreError",
]


class AsyncgenError(Exception):
    """Root of every error asyncgen raises on purpose."""


class ConfigError(AsyncgenError):
    """A setting is missing, unknown or out of range."""


class ConfigFrozenError(ConfigError):
    """A setting was changed after the run that uses the config started."""


class PromptError(AsyncgenError):
    """A prompt template cannot be loaded or rendered."""


class DatasetError(AsyncgenError):
    """A dataset or persona file does not have the documented schema."""


class EmbeddingError(AsyncgenError):
    """The embedding model cannot be loaded or used."""


class StoreError(AsyncgenError):
    """The run directory cannot be created, written, read or resumed."""


class RunLockedError(StoreError):
    """Another live asyncgen process holds the run directory's lock."""


class BudgetExceededError(AsyncgenError):
    """A cost or token budget is spent; in-flight work may finish, new work may not start."""


class ClusterError(AsyncgenError):
    """A part of a Ray run the driver cannot do without is gone (`asyncgen.cluster`)."""


class RequestInfo(TypedDict, total=False):
    """Which model call an `LLMError` is about (never with its key)."""

    base_url: str | None
    model: str | None
    provider: str
    call: str
    """A Batch API call, e.g. ``GET /files/ID/content``."""
    mode: str
    """``batch`` for a request answered through the Batch API."""
    attempts: int
    """The true number of attempts the transport made."""
    request_id: str | None
    """The last ``x-request-id`` the endpoint sent."""


class LLMError(AsyncgenError):
    """A model call failed; `request` says which one (never with its key)."""

    def __init__(self, message: str, *, request: RequestInfo | None = None) -> None:
        super().__init__(message)
        self.request = request or {}


class LLMConnectionError(LLMError):
    """The endpoint could not be reached, or the connection broke mid-answer."""


class LLMTimeoutError(LLMConnectionError):
    """The endpoint did not answer within the configured timeout."""


class LLMStatusError(LLMError):
    """The endpoint answered with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        request_id: str | None = None,
        request: RequestInfo | None = None,
    ) -> None:
        super().__init__(message, request=request)
        self.status_code = status_code
        self.body = body
        self.request_id = request_id


class RateLimitError(LLMStatusError):
    """429: the endpoint's rate limit was hit; `retry_after` is its advice in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("status_code", 429)
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(LLMStatusError):
    """5xx: the endpoint failed; worth retrying."""


class LLMResponseError(LLMError):
    """The answer arrived but is unusable: unparseable, empty or truncated.

    `usage` is the body's `usage` (prompt/completion/cached tokens) when it had one: the
    provider bills such an answer, so the ledger does too.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: str | None = None,
        usage: tuple[int, int, int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.raw = raw
        self.usage = usage
