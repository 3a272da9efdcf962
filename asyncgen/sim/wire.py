"""The OpenAI wire format the simulator speaks: bodies for answers, chunks and errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["StreamIds", "chunk_body", "completion_body", "error_body", "models_body", "usage_dict"]

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


def error_body(message: str, type_: str, code: str | int | None, param: str | None = None) -> bytes:
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return orjson.dumps(
        {"error": {"message": message, "type": type_, "param": param, "code": code}}
    )


def usage_dict(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    """The ``usage`` object."""
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    *,
    request_id: str,
    model: str,
    created: int,
    content: str,
    finish_reason: str,
    usage: dict[str, int],
) -> bytes:
    """A non-streaming ``chat.completion`` object."""
    return orjson.dumps(
        {
            "id": request_id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
            "system_fingerprint": "fp_asyncgen_sim",
        }
    )


@dataclass(frozen=True)
class StreamIds:
    """What every chunk of one stream repeats."""

    request_id: str
    model: str
    created: int


def chunk_body(
    ids: StreamIds,
    *,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    usage: dict[str, int] | None = None,
) -> bytes:
    """One SSE event carrying a ``chat.completion.chunk`` (no choices when `delta` is None)."""
    chunk: dict[str, Any] = {
        "id": ids.request_id,
        "object": "chat.completion.chunk",
        "created": ids.created,
        "model": ids.model,
        "system_fingerprint": "fp_asyncgen_sim",
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage is not None:
        chunk["usage"] = usage
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def models_body(models: list[str], created: int) -> bytes:
    """``GET /v1/models``."""
    return orjson.dumps(
        {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": created, "owned_by": "asyncgen-sim"}
                for m in models
            ],
        }
    )
