"""The pieces of a batch round: a waiting request, a part in flight, an input line.

A request is known by a digest of its JSON body; its `custom_id` in a batch input file
is ``<digest>-<part name>-<number>#<kind>`` (unique within the file; the simulator reads
the prompt kind after the ``#``, since a batch line carries no headers). A waiting
request does not keep its body: the body is in the part's input file on disk, and is
built again from the request only if it has to go into a later round.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from asyncgen.errors import LLMError
from asyncgen.llm.batch_journal import PartState
from asyncgen.llm.types import ChatRequest, ChatResult, ModelHandle

_URL = b"/v1/chat/completions"
LINE_OVERHEAD = 120  # bytes an input line adds around the body (custom id, method, url)


class BatchRequestError(LLMError):
    """A batch request that could not be answered within the resubmission limit."""


@dataclass(eq=False)
class Pending:
    """One waiting `chat` call."""

    request: ChatRequest
    handle: ModelHandle
    digest: str
    size: int  # bytes of its JSON body
    tokens: int  # prompt tokens: an estimate from the body's size until counted
    future: asyncio.Future[ChatResult]
    started: float
    attempts: int = 0
    settled: bool = False
    counted: bool = False  # `tokens` is the tokenizer's count
    reserved: tuple[float, int] | None = None  # budget held until it settles


@dataclass(eq=False)
class Part:
    """One batch of a round: its recorded state and the requests waiting on it."""

    state: PartState
    waiters: dict[str, Pending] = field(default_factory=dict)
    started: float = 0.0
    resumed: bool = False
    running_at: float = 0.0  # clock of the last poll that found the batch still running
    ended_seen_at: float = 0.0  # clock of the poll that found it ended


def custom_id_for(pending: Pending, part_name: str, number: int) -> str:
    """The request's custom id in part `part_name`, at line `number`."""
    kind = pending.request.kind.replace("#", "_")
    return f"{pending.digest}-{part_name}-{number}#{kind}"


def digest_of(custom_id: str) -> str:
    """The request digest a custom id starts with."""
    return custom_id.split("-", 1)[0]


def kind_of(custom_id: str) -> str:
    """The prompt kind after the ``#`` of a custom id ("generic" without one)."""
    return custom_id.rpartition("#")[2] or "generic"


def billable(line: dict[str, Any]) -> bool:
    """An output line the provider bills: a request answered with a 200."""
    response = line.get("response")
    return isinstance(response, dict) and response.get("status_code") == 200


def input_line(custom_id: str, payload: bytes) -> bytes:
    """One input line; the body is the exact JSON the online call would send."""
    return (
        b'{"custom_id":' + orjson.dumps(custom_id) + b',"method":"POST","url":"' + _URL
        + b'","body":' + payload + b"}\n"
    )  # fmt: skip
