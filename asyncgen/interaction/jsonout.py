"""Parse the JSON object a structured prompt asks for, tolerating fences and chatter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from asyncgen.errors import LLMResponseError
from asyncgen.llm.ask import ask
from asyncgen.llm.types import ChatClient, ChatRequest, Message, ModelHandle
from asyncgen.prompts import PromptTemplate, load_prompt


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
    """Send a structured request; on a malformed answer, re-ask with a repair turn
    (`asyncgen.llm.ask`: the bad answer, then a short correction).

    Raises:
        MalformedOutputError: still malformed after `max_retries` re-asks (last raw kept).
        LLMError: the transport could not get an answer.
    """

    def parse(text: str) -> dict[str, Any]:
        data = parse_object(text, required=required, kind=request.kind)
        if check is not None:
            check(data, text)
        return data

    answer = await ask(
        client,
        request,
        handle,
        parse=parse,
        invalid=MalformedOutputError,
        repair=_repair,
        max_retries=max_retries,
    )
    return JsonAnswer(answer.value, answer.raw, answer.calls)


def json_request(
    template: PromptTemplate, /, *, max_tokens: int, temperature: float, **values: Any
) -> ChatRequest:
    """`template` rendered with `values` as the one user message of a request for JSON."""
    return ChatRequest(
        messages=[{"role": "user", "content": template.render(**values)}],
        kind=template.kind,
        max_tokens=max_tokens,
        temperature=temperature,
        response_format={"type": "json_object"},
    )


class JsonAsker:
    """A part that asks one model, through one prompt (`PROMPT`), for JSON objects."""

    PROMPT: ClassVar[str]

    def __init__(
        self,
        client: ChatClient,
        handle: ModelHandle,
        *,
        max_retries: int = 3,
        prompt: str | None = None,
    ) -> None:
        """Bind to the transport and the model asked; `max_retries` re-asks per answer;
        `prompt` names a configured template instead of the class's `PROMPT`."""
        self.client = client
        self.handle = handle
        self.max_retries = max_retries
        self.template = load_prompt(prompt or self.PROMPT)

    async def ask(
        self, request: ChatRequest, *, required: tuple[str, ...], check: Check | None = None
    ) -> JsonAnswer:
        """`ask_json` with this part's client, model and re-asks."""
        return await ask_json(
            self.client,
            request,
            self.handle,
            required=required,
            max_retries=self.max_retries,
            check=check,
        )


def _repair(raw: str, error: Exception) -> list[Message]:
    return [
        {"role": "assistant", "content": raw},
        {"role": "user", "content": REPAIR.format(error=error)},
    ]
