"""``stream: true`` answers: server-sent events parsed into one result plus its token timings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from asyncgen.llm.client import Connection
from asyncgen.llm.errors import EmptyAnswerError, MalformedAnswerError, TruncatedAnswerError
from asyncgen.llm.headers import RateLimitInfo, limit_headers, parse_rate_limit_headers
from asyncgen.llm.types import ChatRequest, ChatResult
from asyncgen.llm.wire import status_error
from asyncgen.prompts import KIND_HEADER


@dataclass
class StreamResult(ChatResult):
    """A streamed answer: `ttft` is seconds to the first content token, `itl` the gaps after it."""

    ttft: float | None = None
    itl: list[float] = field(default_factory=list)


@dataclass
class _Events:
    """What the event stream has said so far."""

    parts: list[str] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    first: float | None = None
    last: float | None = None
    finish: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    request_id: str | None = None


async def read_stream(
    connection: Connection,
    payload: bytes,
    request: ChatRequest,
    info: dict[str, Any],
    clock: Callable[[], float],
    started: float,
    key_env: str | None,
) -> tuple[StreamResult, RateLimitInfo]:
    """POST a streaming request and read its events to the end.

    Raises:
        LLMStatusError: the endpoint refused the request.
        MalformedAnswerError, EmptyAnswerError, TruncatedAnswerError: the stream was unusable.
    """
    headers = {KIND_HEADER: request.kind}
    client = connection.client
    async with client.stream("POST", connection.url, content=payload, headers=headers) as response:
        limits = parse_rate_limit_headers(limit_headers(response.headers.raw))
        if response.status_code >= 300:
            await response.aread()
            raise status_error(response, info=info, key_env=key_env)
        events = _Events()
        async for line in response.aiter_lines():
            if line.startswith("data:") and _feed(events, line[5:].strip(), clock, info):
                break
    return _finish(events, request, info, clock() - started, started), limits


def _feed(events: _Events, data: str, clock: Callable[[], float], info: dict[str, Any]) -> bool:
    """Apply one ``data:`` line; True at ``[DONE]``."""
    if data == "[DONE]":
        return True
    try:
        chunk = orjson.loads(data)
        choices = chunk.get("choices") or []
    except (orjson.JSONDecodeError, AttributeError) as exc:
        raise MalformedAnswerError(
            "the event stream carried an unparseable chunk", raw=data[:500], request=info
        ) from exc
    events.model = chunk.get("model") or events.model
    events.request_id = chunk.get("id") or events.request_id
    if chunk.get("usage"):
        events.usage = chunk["usage"]
    for choice in choices:
        text = (choice.get("delta") or {}).get("content")
        if text:
            now = clock()
            if events.first is None:
                events.first = now
            elif events.last is not None:
                events.gaps.append(now - events.last)
            events.last = now
            events.parts.append(text)
        if choice.get("finish_reason"):
            events.finish = choice["finish_reason"]
    return False


def _finish(
    events: _Events, request: ChatRequest, info: dict[str, Any], latency: float, started: float
) -> StreamResult:
    content = "".join(events.parts)
    if not content.strip():
        raise EmptyAnswerError("the event stream carried no content", request=info)
    if request.require_complete and events.finish == "length":
        raise TruncatedAnswerError(
            "the answer was cut at max_tokens (finish_reason=length)", raw=content, request=info
        )
    return StreamResult(
        content=content,
        model=events.model or str(info.get("model")),
        provider=str(info.get("provider")),
        finish_reason=events.finish,
        prompt_tokens=int(events.usage.get("prompt_tokens") or 0),
        completion_tokens=int(events.usage.get("completion_tokens") or 0),
        latency=latency,
        request_id=events.request_id,
        ttft=None if events.first is None else events.first - started,
        itl=events.gaps,
    )
