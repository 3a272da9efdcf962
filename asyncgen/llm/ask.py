"""Ask → parse → repair: the one loop for a model answer that must have a shape.

A structured answer (a JSON object, a tagged dialogue) can come back unusable although
the call succeeded. The caller gives a `parse` that raises `invalid` for such an answer
and a `repair` that turns the bad answer and its error into the messages of the re-ask
(the bad answer, then what to fix: it tells the model what went wrong, and it makes the
re-ask a different request, so a deterministic endpoint does not repeat itself). Only
this loop re-asks for a bad shape; the transport's own retries cover failed calls, and
the engine's replacement rounds cover items that still fail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from asyncgen.errors import LLMStatusError
from asyncgen.llm.types import ChatClient, ChatRequest, ChatResult, Message, ModelHandle

T = TypeVar("T")
Repair = Callable[[str, Exception], list[Message]]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A parsed answer, its raw text, the model that wrote it, and the calls it took."""

    value: T
    raw: str
    model: str
    calls: int


async def ask(
    client: ChatClient,
    request: ChatRequest,
    handle: ModelHandle | None,
    *,
    parse: Callable[[str], T],
    invalid: type[Exception] | tuple[type[Exception], ...],
    repair: Repair,
    max_retries: int,
    backoff: Callable[[int], float] | None = None,
    sleep: Sleep | None = None,
) -> Answer[T]:
    """Send `request`; while the answer does not parse, re-ask with `repair`'s messages.

    Args:
        client: the transport.
        request: the first request (its messages stay the prefix of every re-ask).
        handle: the locked model, or None for the configured one.
        parse: the answer text → the value; raises `invalid` for an unusable answer.
        invalid: the error type(s) that mean "ask again".
        repair: (bad answer, its error) → the messages appended for the re-ask.
        max_retries: re-asks after the first call.
        backoff: seconds to wait before re-ask *k* (1-based); None: re-ask at once.
        sleep: the sleep used for the backoff (tests pass a fake clock).

    Raises:
        Exception: the last `invalid` error after `max_retries` re-asks.
        LLMError: the transport could not get an answer.
    """
    messages = request.messages
    last: Exception | None = None
    for call in range(1, max_retries + 2):
        if call > 1 and backoff is not None and sleep is not None:
            await sleep(backoff(call - 1))
        # the first call sends `request` itself (a copy per turn was measurable CPU at 10,000)
        sent = request if messages is request.messages else replace(request, messages=messages)
        result = await send(client, sent, handle)
        try:
            value = parse(result.content)
        except invalid as exc:
            last = exc
            messages = [*request.messages, *repair(result.content, exc)]
            continue
        return Answer(value, result.content, result.model, call)
    assert last is not None  # the loop runs at least once
    raise last


# (provider, model) pairs that refused `response_format`; asked without it from then on
_NO_JSON_MODE: set[tuple[str, str]] = set()


async def send(client: ChatClient, request: ChatRequest, handle: ModelHandle | None) -> ChatResult:
    """Send with JSON mode; an endpoint that rejects the parameter (400) is asked without it.

    The prompts ask for JSON in words too, so JSON mode is a help, not a requirement.
    """
    key = (handle.provider, handle.model) if handle else ("", "")
    if request.response_format is None:
        return await client.chat(request, handle)
    if key in _NO_JSON_MODE:
        return await client.chat(replace(request, response_format=None), handle)
    try:
        return await client.chat(request, handle)
    except LLMStatusError as exc:
        if exc.status_code != 400 or "response_format" not in str(exc.body or exc):
            raise
        _NO_JSON_MODE.add(key)
        return await client.chat(replace(request, response_format=None), handle)
