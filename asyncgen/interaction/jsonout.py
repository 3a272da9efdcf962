"""Parse the JSON object a structured prompt asks for, tolerating fences and chatter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson

from asyncgen.errors import LLMResponseError, LLMStatusError
from asyncgen.llm.types import ChatClient, ChatRequest, ChatResult, ModelHandle


class MalformedOutputError(LLMResponseError):
    """A model answered, but not with the JSON object its prompt asked for."""


def parse_object(text: str, *, required: tuple[str, ...] = (), kind: str = "") -> dict[str, Any]:
    """The first JSON object in `text`, with `required` keys present.

    Raises:
        MalformedOutputError: no object, invalid JSON, or a missing key (raw text kept).
    """
    start, end = text.find("{"), text.rfind("}")
    label = f"{kind} answer" if kind else "answer"
    if start < 0 or end <= start:
        raise MalformedOutputError(f"{label} holds no JSON object", raw=text)
    try:
        data = orjson.loads(text[start : end + 1])
    except orjson.JSONDecodeError as exc:
        raise MalformedOutputError(f"{label} is not valid JSON ({exc})", raw=text) from exc
    if not isinstance(data, dict):
        raise MalformedOutputError(f"{label} is not a JSON object", raw=text)
    missing = [key for key in required if key not in data]
    if missing:
        raise MalformedOutputError(f"{label} lacks {', '.join(missing)}", raw=text)
    return data


Check = Callable[[dict[str, Any], str], None]
REPAIR = (
    "That answer was not usable ({error}). Reply again with exactly one JSON object "
    "in the format asked for, and nothing else."
)


@dataclass(frozen=True)
class JsonAnswer:
    """A parsed structured answer, its raw text, and how many calls it took."""

    data: dict[str, Any]
    raw: str
    calls: int


async def ask_json(
    client: ChatClient,
    request: ChatRequest,
    handle: ModelHandle | None,
    *,
    required: tuple[str, ...],
    max_retries: int,
    check: Check | None = None,
) -> JsonAnswer:
    """Send a structured request; on a malformed answer, re-ask with a repair turn.

    The repair turn (the bad answer, then a short correction) also makes the re-ask a
    different request, so a deterministic endpoint does not repeat itself.

    Raises:
        MalformedOutputError: still malformed after `max_retries` re-asks (last raw kept).
        LLMError: the transport could not get an answer.
    """
    messages = list(request.messages)
    error = MalformedOutputError(f"{request.kind} answer never arrived")
    for call in range(1, max_retries + 2):
        result = await _send(client, replace(request, messages=messages), handle)
        try:
            data = parse_object(result.content, required=required, kind=request.kind)
            if check is not None:
                check(data, result.content)
        except MalformedOutputError as exc:
            error = exc
            messages = [
                *request.messages,
                {"role": "assistant", "content": result.content},
                {"role": "user", "content": REPAIR.format(error=exc)},
            ]
            continue
        return JsonAnswer(data, result.content, call)
    raise error


# (provider, model) pairs that refused `response_format`; asked without it from then on
_NO_JSON_MODE: set[tuple[str, str]] = set()


async def _send(client: ChatClient, request: ChatRequest, handle: ModelHandle | None) -> ChatResult:
    """Send with JSON mode; an endpoint that rejects the parameter (400) is asked without it.

    The prompts ask for JSON in words too, so JSON mode is a help, not a requirement.
    """
    key = (handle.provider, handle.model) if handle else ("", "")
    if request.response_format is None or key in _NO_JSON_MODE:
        return await client.chat(replace(request, response_format=None), handle)
    try:
        return await client.chat(request, handle)
    except LLMStatusError as exc:
        if exc.status_code != 400 or "response_format" not in str(exc.body or exc):
            raise
        _NO_JSON_MODE.add(key)
        return await client.chat(replace(request, response_format=None), handle)
