"""``stream: true`` answers: server-sent events parsed into one result plus its token timings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from asyncgen.errors import RequestInfo
from asyncgen.jsontypes import JsonObject
from asyncgen.kinds import KIND_HEADER
from asyncgen.llm.client import Connection
from asyncgen.llm.errors import MalformedAnswerError, StreamCutError, TruncatedAnswerError
from asyncgen.llm.headers import RateLimitInfo, limit_headers, parse_rate_limit_headers
from asyncgen.llm.types import ChatRequest, ChatResult
from asyncgen.llm.wire import check_answer, status_error


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
    usage: JsonObject = field(default_factory=dict)
    model: str | None = None
    request_id: str | None = None
    done: bool = False
    error_event: bool = False
    refusal: list[str] = field(default_factory=list)
    tool_calls: bool = False


async def read_stream(
    connection: Connection,
    payload: bytes,
    request: ChatRequest,
    info: RequestInfo,
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
        events.request_id = response.headers.get("x-request-id")
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                events.error_event = line[6:].strip() == "error"  # Anthropic's error event
            elif line.startswith("data:") and _feed(events, line[5:].strip(), clock, info):
                break
    if not events.done:
        raise StreamCutError(
            "the event stream ended before [DONE]: a partial answer is no answer",
            raw="".join(events.parts)[:500] or None,
            request=info,
        )
    return _finish(events, request, info, clock() - started, started), limits


def _feed(events: _Events, data: str, clock: Callable[[], float], info: RequestInfo) -> bool:
    """Apply one ``data:`` line; True at ``[DONE]``."""
    if data == "[DONE]":
        events.done = True
        return True
    try:
        chunk = orjson.loads(data)
        choices = chunk.get("choices") or []
    except (orjson.JSONDecodeError, AttributeError) as exc:
        raise MalformedAnswerError(
            "the event stream carried an unparseable chunk", raw=data[:500], request=info
        ) from exc
    if events.error_event or chunk.get("error") or chunk.get("type") == "error":
        error = chunk.get("error") or chunk
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise StreamCutError(
            f"the event stream reported an error mid-way: {str(message)[:300]}",
            raw=data[:500],
            request=info,
        )
    events.model = chunk.get("model") or events.model
    events.request_id = chunk.get("id") or events.request_id
    if chunk.get("usage"):
        events.usage = chunk["usage"]
    for choice in choices:
        delta = choice.get("delta") or {}
        text = delta.get("content")
        if delta.get("refusal"):
            events.refusal.append(str(delta["refusal"]))
        if delta.get("tool_calls"):
            events.tool_calls = True
        if text:
            now = clock()
            if events.first is None:
                events.first = now
            elif events.last is not None:
                events.gaps.append(now - events.last)
            events.last = now
            events.parts.append(text)
        if choice.get("finish_reason") == "error":  # OpenRouter: the upstream failed mid-way
            raise StreamCutError(
                "the event stream ended with finish_reason=error", raw=data[:500], request=info
            )
        if choice.get("finish_reason"):
            events.finish = choice["finish_reason"]
    return False


def _finish(
    events: _Events, request: ChatRequest, info: RequestInfo, latency: float, started: float
) -> StreamResult:
    content = "".join(events.parts)
    message: JsonObject = {"content": content}
    if events.refusal:
        message["refusal"] = "".join(events.refusal)
    if events.tool_calls:
        message["tool_calls"] = [{"type": "function"}]
    body = request.body if request.body is not None else request.extra_body
    wants_tools = bool(body.get("tools") or body.get("functions"))
    check_answer(message, content, events.finish, info=info, wants_tools=wants_tools)
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
        usage_estimated=not events.usage,
        ttft=None if events.first is None else events.first - started,
        itl=events.gaps,
    )
