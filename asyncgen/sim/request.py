"""Parse and check one chat-completions request body the way OpenAI does."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["ChatCall", "RequestError", "parse_chat_call"]

_PARAMS = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "response_format",
)


class RequestError(ValueError):
    """The body is not a valid chat-completions request; `param` names the culprit."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class ChatCall:
    """The parts of a chat-completions body the simulator acts on."""

    messages: list[dict[str, Any]]
    model: str
    max_tokens: int | None
    stream: bool
    include_usage: bool
    params: dict[str, Any] = field(default_factory=dict)


def parse_chat_call(body: bytes) -> ChatCall:
    """Parse `body` into a `ChatCall`.

    Raises:
        RequestError: invalid JSON, no model, no messages, or a bad max_tokens/stream.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"We could not parse the JSON body of your request. ({exc})") from exc
    if not isinstance(payload, dict):
        raise RequestError("The request body must be a JSON object.")
    model = payload.get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("you must provide a model parameter", "model")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array", "messages")
    if not all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages):
        raise RequestError("each message must be an object with a 'role'", "messages")
    return ChatCall(
        messages=messages,
        model=model,
        max_tokens=_max_tokens(payload),
        stream=_flag(payload, "stream"),
        include_usage=_include_usage(payload.get("stream_options")),
        params={k: payload[k] for k in _PARAMS if k in payload},
    )


def _max_tokens(payload: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RequestError(f"'{name}' must be an integer >= 1", name)
        return value
    return None


def _flag(payload: dict[str, Any], name: str) -> bool:
    value = payload.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RequestError(f"'{name}' must be a boolean", name)
    return value


def _include_usage(options: Any) -> bool:
    """A final usage chunk unless ``stream_options.include_usage`` is explicitly false."""
    if options is None:
        return True
    if not isinstance(options, dict):
        raise RequestError("'stream_options' must be an object", "stream_options")
    return options.get("include_usage", True) is not False
