"""The wire-independent shapes every model call uses: request, result, model handle.

Pipelines depend on these and on the `ChatClient` protocol only, so a test can pass any
object with an async `chat` method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

Message = dict[str, str]


@dataclass(frozen=True)
class ModelHandle:
    """One pool model and the sampling parameters drawn for one conversation.

    A conversation keeps its handle from first to last call (the spec's model locking),
    passed down explicitly so concurrent conversations never share state.
    """

    provider: str
    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None


@dataclass
class ChatRequest:
    """One chat-completions call. `kind` names the prompt template that produced it."""

    messages: list[Message]
    kind: str = "generic"
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    response_format: dict[str, Any] | None = None
    require_complete: bool = False
    stream: bool = False
    extra_body: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    """When set, the request body exactly as it goes out (`model` aside): ``complete``
    sends each line as the user wrote it; the fields above then only inform the limiter."""


@dataclass
class ChatResult:
    """A usable answer and what it cost."""

    content: str
    model: str
    provider: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    latency: float
    attempts: int = 1
    request_id: str | None = None
    raw: dict[str, Any] | None = None
    cached_tokens: int = 0
    usage_estimated: bool = False
    """True when the answer carried no `usage` and the token counts are asyncgen's estimate."""


class ChatClient(Protocol):
    """What a pipeline needs from the transport."""

    async def chat(self, request: ChatRequest, handle: ModelHandle | None = None) -> ChatResult:
        """Send one request through the limiter and retries; raise an `LLMError` when it fails."""
        ...
