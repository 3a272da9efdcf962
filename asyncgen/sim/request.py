"""Parse and check one chat-completions request body the way OpenAI does.

Always checked (every profile): JSON object, a model, non-empty messages with roles,
``max_tokens``/``max_completion_tokens`` integers >= 1, ``stream`` a boolean,
``stream_options`` an object, ``n`` an integer >= 1, ``stop`` a string or a list of up to
4 strings. Strict profiles (``strict``) also refuse what OpenAI refuses: unknown top-level
fields ("Unrecognized request argument supplied: X"), values out of range (temperature
0-2, top_p 0-1, penalties -2..2, top_logprobs 0-20 and only with logprobs), unknown
roles, and, for reasoning models, ``max_tokens`` (they need ``max_completion_tokens``)
and a temperature other than 1.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["KNOWN_FIELDS", "ChatCall", "RequestError", "Validation", "parse_chat_call"]

_PARAMS = (
    "temperature",
    "top_p",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "n",
    "response_format",
)
# OpenAI's documented chat-completions request fields.
KNOWN_FIELDS = frozenset(
    {
        "messages",
        "model",
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_RANGES = (
    ("temperature", 0.0, 2.0),
    ("top_p", 0.0, 1.0),
    ("frequency_penalty", -2.0, 2.0),
    ("presence_penalty", -2.0, 2.0),
)
_MAX_N = 128
# Fields that shape the choices; absent from most bodies, so parsed only when present.
_SHAPING = frozenset({"n", "stop", "logprobs", "top_logprobs", "tools", "tool_choice"})


class RequestError(ValueError):
    """The body is not a valid chat-completions request; `param` names the culprit."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


@dataclass(frozen=True)
class Validation:
    """How strictly bodies are checked (a profile's choice)."""

    strict: bool = False
    reasoning_models: tuple[str, ...] = ()

    def is_reasoning(self, model: str) -> bool:
        """Whether `model` is configured as a reasoning model."""
        return _matches(self.reasoning_models, model)


@functools.lru_cache(maxsize=256)
def _matches(patterns: tuple[str, ...], model: str) -> bool:
    """fnmatch over the patterns, remembered per model name (a run uses few)."""
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in patterns)


LENIENT = Validation()


@dataclass
class ChatCall:
    """The parts of a chat-completions body the simulator acts on."""

    messages: list[dict[str, Any]]
    model: str
    max_tokens: int | None
    stream: bool
    include_usage: bool
    params: dict[str, Any] = field(default_factory=dict)
    n: int = 1
    stop: tuple[str, ...] = ()
    logprobs: bool = False
    top_logprobs: int = 0
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None


def parse_chat_call(body: bytes, validation: Validation = LENIENT) -> ChatCall:
    """Parse `body` into a `ChatCall`.

    Raises:
        RequestError: invalid JSON, no model, no messages, a bad field; under strict
            validation also unknown fields, values out of range and reasoning-model misuse.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"We could not parse the JSON body of your request. ({exc})") from exc
    if not isinstance(payload, dict):
        raise RequestError("The request body must be a JSON object.")
    get = payload.get
    model = get("model")
    if not isinstance(model, str) or not model:
        raise RequestError("you must provide a model parameter", "model")
    messages = get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError("'messages' must be a non-empty array", "messages")
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if not isinstance(role, str):
            raise RequestError("each message must be an object with a 'role'", "messages")
        if validation.strict and role not in _ROLES:
            raise RequestError(
                f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', "
                "'user', 'function', 'tool', and 'developer'.",
                f"messages[{index}].role",
                "invalid_value",
            )
    if validation.strict:
        _check_strict(payload, model, validation)
    call = ChatCall(
        messages=messages,
        model=model,
        max_tokens=_max_tokens(payload),
        stream=_flag(payload, "stream"),
        include_usage=_include_usage(get("stream_options")),
        params={k: payload[k] for k in _PARAMS if k in payload},
    )
    if payload.keys() & _SHAPING:
        call.n = _n(get("n"))
        call.stop = _stop(get("stop"))
        call.logprobs = _flag(payload, "logprobs")
        call.top_logprobs = _int(payload, "top_logprobs", 0)
        call.tools = _tools(get("tools"))
        call.tool_choice = get("tool_choice")
    return call


def _check_strict(payload: dict[str, Any], model: str, validation: Validation) -> None:
    unknown = payload.keys() - KNOWN_FIELDS
    if unknown:
        name = next(k for k in payload if k in unknown)
        raise RequestError(f"Unrecognized request argument supplied: {name}")
    for name, low, high in _RANGES:
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise RequestError(
                f"Invalid type for '{name}': expected a decimal, but got "
                f"{type(value).__name__} instead.",
                name,
                "invalid_type",
            )
        if value < low:
            raise RequestError(
                f"Invalid '{name}': decimal below minimum value. Expected a value >= {low:g}, "
                f"but got {value} instead.",
                name,
                "decimal_below_min_value",
            )
        if value > high:
            raise RequestError(
                f"Invalid '{name}': decimal above maximum value. Expected a value <= {high:g}, "
                f"but got {value} instead.",
                name,
                "decimal_above_max_value",
            )
    top = payload.get("top_logprobs")
    if top is not None:
        if not isinstance(top, int) or isinstance(top, bool) or not 0 <= top <= 20:
            raise RequestError("Invalid 'top_logprobs': expected an integer 0-20.", "top_logprobs")
        if payload.get("logprobs") is not True:
            raise RequestError(
                "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
                "'top_logprobs' is specified.",
                "top_logprobs",
            )
    if validation.is_reasoning(model):
        if payload.get("max_tokens") is not None:
            raise RequestError(
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                "max_tokens",
                "unsupported_parameter",
            )
        temperature = payload.get("temperature")
        if temperature is not None and temperature != 1:
            raise RequestError(
                f"Unsupported value: 'temperature' does not support {temperature} with this "
                "model. Only the default (1) value is supported.",
                "temperature",
                "unsupported_value",
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


def _int(payload: dict[str, Any], name: str, default: int) -> int:
    value = payload.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RequestError(f"'{name}' must be a non-negative integer", name)
    return value


def _n(value: Any) -> int:
    if value is None:
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_N:
        raise RequestError(
            f"Invalid 'n': expected an integer between 1 and {_MAX_N}, but got {value!r}.", "n"
        )
    return value


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, list) and len(value) <= 4 and all(isinstance(s, str) for s in value):
        return tuple(s for s in value if s)
    raise RequestError("'stop' must be a string or an array of up to 4 strings", "stop")


def _tools(value: Any) -> list[dict[str, Any]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(t, dict) and isinstance(t.get("function"), dict) for t in value
    ):
        raise RequestError("'tools' must be an array of function tools", "tools")
    return value


def _include_usage(options: Any) -> bool:
    """A final usage chunk only when ``stream_options.include_usage`` is true (OpenAI's rule)."""
    if options is None:
        return False
    if not isinstance(options, dict):
        raise RequestError("'stream_options' must be an object", "stream_options")
    return options.get("include_usage") is True
