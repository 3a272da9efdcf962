"""Error bodies as each provider writes them.

Every error the simulator sends goes through one `ErrorShape`, given OpenAI's vocabulary
(status, message, OpenAI ``type``, ``code``, ``param``); the shape renders it the way its
provider does:

- ``openai``: ``{"error": {"message", "type", "param", "code"}}``.
- ``azure``: OpenAI's shape, except 429s: ``{"error": {"code": "429", "message"}}``.
- ``anthropic``: ``{"type": "error", "error": {"type", "message"}}`` with Anthropic's types
  by status (``invalid_request_error``, ``authentication_error``, ``rate_limit_error``,
  ``api_error``, ``overloaded_error`` …).
- ``openrouter``: ``{"error": {"code": <status int>, "message", "metadata"?}}``.
- ``vllm``: ``{"object": "error", "message", "type", "param", "code": <status int>}``.
- ``litellm``: ``{"error": {"message": "litellm.<Class>: …", "type", "param", "code": "<status>"}}``
  (LiteLLM's ProxyException writes every field as a string).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

__all__ = ["ERROR_SHAPES", "ErrorShape"]

ErrorShape = Callable[[int, str, str, str | int | None, str | None], bytes]

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_VLLM_TYPES = {400: "BadRequestError", 401: "Unauthorized", 404: "NotFoundError"}
_LITELLM_CLASSES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    404: "NotFoundError",
    408: "Timeout",
    429: "RateLimitError",
    500: "InternalServerError",
    503: "ServiceUnavailableError",
}


def openai(
    status: int, message: str, type_: str, code: str | int | None, param: str | None
) -> bytes:
    """OpenAI's shape."""
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def azure(
    status: int, message: str, type_: str, code: str | int | None, param: str | None
) -> bytes:
    """Azure OpenAI: OpenAI's shape, but a 429 is ``{"error": {"code": "429", "message"}}``."""
    if status == 429:
        return orjson.dumps({"error": {"code": "429", "message": message}})
    return openai(status, message, type_, code, param)


def anthropic(
    status: int, message: str, type_: str, code: str | int | None, param: str | None
) -> bytes:
    """Anthropic: ``{"type": "error", "error": {"type", "message"}}``."""
    kind = _ANTHROPIC_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    if code == "insufficient_quota":
        kind = "billing_error"
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def openrouter(
    status: int, message: str, type_: str, code: str | int | None, param: str | None
) -> bytes:
    """OpenRouter: ``{"error": {"code": <int>, "message", "metadata"}}``."""
    error: dict[str, Any] = {"code": status, "message": message}
    if code is not None and not isinstance(code, int):
        error["metadata"] = {"provider_code": code}
    return orjson.dumps({"error": error})


def vllm(status: int, message: str, type_: str, code: str | int | None, param: str | None) -> bytes:
    """vLLM's ErrorResponse: a flat object with ``"object": "error"``."""
    kind = _VLLM_TYPES.get(status, "InternalServerError" if status >= 500 else "BadRequestError")
    return orjson.dumps(
        {"object": "error", "message": message, "type": kind, "param": param, "code": status}
    )


def litellm(
    status: int, message: str, type_: str, code: str | int | None, param: str | None
) -> bytes:
    """LiteLLM proxy: every field a string, the message prefixed with the exception class."""
    name = _LITELLM_CLASSES.get(status, "APIError")
    return orjson.dumps(
        {
            "error": {
                "message": f"litellm.{name}: {message}",
                "type": str(type_),
                "param": str(param),
                "code": str(status),
            }
        }
    )


ERROR_SHAPES: dict[str, ErrorShape] = {
    "openai": openai,
    "azure": azure,
    "anthropic": anthropic,
    "openrouter": openrouter,
    "vllm": vllm,
    "litellm": litellm,
}
