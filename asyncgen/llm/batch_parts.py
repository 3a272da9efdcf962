"""The pieces of a batch round: a waiting request, a part in flight, how a round splits.

A request is known by a digest of its JSON body; its `custom_id` in a batch input file
is ``<digest>-<part name>-<number>#<kind>`` (unique within the file; the simulator reads
the prompt kind after the ``#``, since a batch line carries no headers).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson

from asyncgen.errors import LLMError
from asyncgen.llm.batch_journal import PartState
from asyncgen.llm.types import ChatRequest, ChatResult, ModelHandle
from asyncgen.tokens import count_message_tokens

_URL = b"/v1/chat/completions"
LINE_OVERHEAD = 120  # bytes an input line adds around the body (custom id, method, url)


class BatchRequestError(LLMError):
    """A batch request that could not be answered within the resubmission limit."""


@dataclass(eq=False)
class Pending:
    """One waiting `chat` call."""

    request: ChatRequest
    handle: ModelHandle
    payload: bytes
    digest: str
    tokens: int  # prompt tokens: an estimate from the body's size until counted
    future: asyncio.Future[ChatResult]
    started: float
    attempts: int = 0
    settled: bool = False


@dataclass(eq=False)
class Part:
    """One batch of a round: its recorded state and the requests waiting on it."""

    state: PartState
    waiters: dict[str, Pending] = field(default_factory=dict)
    started: float = 0.0
    resumed: bool = False


def new_part(round_no: int, index: int, group: list[Pending]) -> Part:
    """A part for `group` (one model), each request under its custom id."""
    name = f"{round_no:05d}-{index:03d}"
    state = PartState(
        name=name,
        round=round_no,
        part=index,
        model=group[0].handle.model,
        requests=len(group),
        tokens=sum(p.tokens for p in group),
        bytes=0,
    )
    part = Part(state)
    for number, pending in enumerate(group):
        kind = pending.request.kind.replace("#", "_")
        part.waiters[f"{pending.digest}-{name}-{number}#{kind}"] = pending
    return part


def digest_of(custom_id: str) -> str:
    """The request digest a custom id starts with."""
    return custom_id.split("-", 1)[0]


def split_round(
    batch: list[Pending], *, max_requests: int, max_bytes: int, token_limit: int | None
) -> list[list[Pending]]:
    """Parts: one model each, within requests, bytes and enqueued tokens per batch."""
    by_model: dict[str, list[Pending]] = {}
    for pending in batch:
        by_model.setdefault(pending.handle.model, []).append(pending)
    parts: list[list[Pending]] = []
    for group in by_model.values():
        current: list[Pending] = []
        size = tokens = 0
        for pending in group:
            line = len(pending.payload) + LINE_OVERHEAD
            full = len(current) >= max_requests or size + line > max_bytes
            full = full or (token_limit is not None and tokens + pending.tokens > token_limit)
            if current and full:
                parts.append(current)
                current, size, tokens = [], 0, 0
            current.append(pending)
            size += line
            tokens += pending.tokens
        if current:
            parts.append(current)
    return parts


def count_tokens(batch: list[Pending]) -> None:
    """Prompt tokens by the tokenizer (the enqueued-token limit counts them exactly)."""
    for pending in batch:
        pending.tokens = count_message_tokens(pending.request.messages)


def input_line(custom_id: str, payload: bytes) -> bytes:
    """One input line; the body is the exact JSON the online call would send."""
    return (
        b'{"custom_id":' + orjson.dumps(custom_id) + b',"method":"POST","url":"' + _URL
        + b'","body":' + payload + b"}\n"
    )  # fmt: skip
