"""The OpenAI wire format the simulator speaks: bodies for answers, chunks and errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "StreamIds",
    "choices_body",
    "chunk_body",
    "completion_body",
    "error_body",
    "models_body",
    "usage_dict",
]

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
    """A non-streaming ``chat.completion`` object with one plain choice."""
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": content, "refusal": None},
        "logprobs": None,
        "finish_reason": finish_reason,
    }
    return choices_body(
        request_id=request_id, model=model, created=created, choices=[choice], usage=usage
    )


def choices_body(
    *,
    request_id: str,
    model: str,
    created: int,
    choices: list[dict[str, Any]],
    usage: dict[str, int] | None,
) -> bytes:
    """A non-streaming ``chat.completion`` object (no ``usage`` key when `usage` is None)."""
    body: dict[str, Any] = {
        "id": request_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage is not None:
        body["usage"] = usage
    body["system_fingerprint"] = "fp_asyncgen_sim"
    return orjson.dumps(body)


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
    index: int = 0,
    logprobs: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
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
        else [
            {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        chunk["usage"] = usage
    if extra:
        chunk.update(extra)
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
