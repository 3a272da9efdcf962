"""The OpenAI chat-completions wire format, and the one place lower-layer errors become ours.

Everything that knows about HTTP status codes, JSON bodies, httpx or aiohttp exceptions
lives here; the rest of the transport sees `ChatRequest`, `Completion` and `LLMError`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson

from asyncgen.errors import (
    LLMConnectionError,
    LLMError,
    LLMStatusError,
    LLMTimeoutError,
    RateLimitError,
    ServerError,
)
from asyncgen.llm.errors import (
    AuthenticationError,
    ContextLengthError,
    EmptyAnswerError,
    MalformedAnswerError,
    TruncatedAnswerError,
)
from asyncgen.llm.headers import parse_retry_after
from asyncgen.llm.types import ChatRequest, ModelHandle

_SAMPLING = ("temperature", "top_p", "frequency_penalty", "presence_penalty")
_CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context window")


@dataclass(frozen=True)
class Completion:
    """The parts of a chat-completions body the transport uses."""

    content: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    model: str | None
    request_id: str | None
    raw: dict[str, Any]
    cached_tokens: int = 0


def build_body(request: ChatRequest, handle: ModelHandle) -> dict[str, Any]:
    """The JSON body: request fields first, the handle's drawn sampling values fill the gaps."""
    body: dict[str, Any] = {"model": handle.model, "messages": request.messages}
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    for name in _SAMPLING:
        value = getattr(request, name)
        if value is None:
            value = getattr(handle, name)
        if value is not None:
            body[name] = value
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if request.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    if request.extra_body:
        body.update(request.extra_body)
    return body


def encode(body: dict[str, Any]) -> bytes:
    """Serialise a request body with orjson."""
    return orjson.dumps(body)


def parse_completion(content: bytes, *, require_complete: bool, info: dict[str, Any]) -> Completion:
    """Decode a 200 body into a `Completion`.

    Raises:
        MalformedAnswerError: not JSON, or not the chat-completions shape.
        EmptyAnswerError: no text in the first choice.
        TruncatedAnswerError: finish_reason "length" while `require_complete`.
    """
    data: Any = None
    try:
        data = orjson.loads(content)
        choice = data["choices"][0]
        text = choice["message"].get("content")
        finish = choice.get("finish_reason")
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise MalformedAnswerError(
            "the endpoint returned a body that is not a chat completion",
            raw=_snippet(content),
            request=info,
            usage=usage_of(data) if isinstance(data, dict) and "usage" in data else None,
        ) from exc
    billed = usage_of(data)
    if not isinstance(text, str) or not text.strip():
        raise EmptyAnswerError(
            "the endpoint returned an empty answer",
            raw=_snippet(content),
            request=info,
            usage=billed,
        )
    if require_complete and finish == "length":
        raise TruncatedAnswerError(
            "the answer was cut at max_tokens (finish_reason=length)",
            raw=text,
            request=info,
            usage=billed,
        )
    return Completion(
        content=text,
        finish_reason=finish,
        prompt_tokens=billed[0],
        completion_tokens=billed[1],
        model=data.get("model"),
        request_id=data.get("id"),
        raw=data,
        cached_tokens=billed[2],
    )


def usage_of(data: Any) -> tuple[int, int, int]:
    """(prompt, completion, cached prompt) tokens from a body's `usage`; zeros when absent."""
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return (0, 0, 0)
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    try:
        return (
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
            int(cached or 0),
        )
    except (TypeError, ValueError):
        return (0, 0, 0)


def status_error(
    response: httpx.Response, *, info: dict[str, Any], key_env: str | None
) -> LLMStatusError:
    """Translate an HTTP error status into the tree, with a message that says what to fix."""
    code = response.status_code
    body = _json_or_text(response.content)
    detail = _server_message(body)
    request_id = response.headers.get("x-request-id")
    common: dict[str, Any] = {
        "status_code": code,
        "body": body,
        "request_id": request_id,
        "request": info,
    }
    where = f"{info.get('base_url', 'the endpoint')} (model {info.get('model')!r})"
    if code == 429:
        retry_after = parse_retry_after(response.headers)
        return RateLimitError(
            f"rate limited (429) by {where}: {detail}", retry_after=retry_after, **common
        )
    if code >= 500:
        return ServerError(f"server error ({code}) from {where}: {detail}", **common)
    if code == 401:
        var = key_env or "the provider's API key variable"
        msg = f"{where} rejected the API key (401): set {var} to a valid key"
        return AuthenticationError(msg, **common)
    if code == 403:
        var = key_env or "the API key"
        return AuthenticationError(
            f"forbidden (403) by {where}: the key in {var} has no access ({detail})", **common
        )
    if code == 404:
        msg = f"not found (404) at {where}: check llm.model / --model and --base-url ({detail})"
        return LLMStatusError(msg, **common)
    if code == 400 and any(m in str(body).lower() for m in _CONTEXT_MARKERS):
        msg = f"prompt too long for {where}: shorten the prompt or lower max_tokens ({detail})"
        return ContextLengthError(msg, **common)
    return LLMStatusError(f"request refused ({code}) by {where}: {detail}", **common)


def transport_error(exc: BaseException, *, info: dict[str, Any]) -> LLMError:
    """Translate an httpx, aiohttp, asyncio or OS exception; call inside ``raise … from exc``."""
    root = exc.__cause__ if isinstance(exc, httpx.TransportError) and exc.__cause__ else exc
    where = info.get("base_url", "the endpoint")
    if isinstance(root, TimeoutError | asyncio.TimeoutError | httpx.TimeoutException):
        return LLMTimeoutError(f"no answer from {where} within the timeout", request=info)
    if isinstance(exc, httpx.DecodingError):
        return MalformedAnswerError(f"undecodable body from {where}: {exc}", request=info)
    reason = type(root).__name__
    if isinstance(root, aiohttp.ClientError | httpx.TransportError | OSError):
        return LLMConnectionError(f"connection to {where} failed ({reason}: {root})", request=info)
    return LLMConnectionError(f"request to {where} failed ({reason}: {root})", request=info)


TRANSPORT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    aiohttp.ClientError,
    asyncio.TimeoutError,
    OSError,
)


def _json_or_text(content: bytes) -> Any:
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return _snippet(content)


def _server_message(body: Any) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    return str(body)[:300] or "no detail"


def _snippet(content: bytes, limit: int = 500) -> str:
    return content[:limit].decode("utf-8", errors="replace")
