"""One admitted completion: wait, maybe misbehave, then answer (whole or streamed)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from asyncgen.sim.choices import PIECE, Choice, reshape
from asyncgen.sim.faults import FaultPlan
from asyncgen.sim.outcomes import CLOUDFLARE, STATUS_FAULTS, cloudflare_page, stream_error_events
from asyncgen.sim.profiles import Profile
from asyncgen.sim.request import ChatCall
from asyncgen.sim.stats import SimStats
from asyncgen.sim.wire import (
    JSON_HEADERS,
    SSE_HEADERS,
    StreamIds,
    choices_body,
    chunk_body,
    usage_dict,
)
from asyncgen.tokens import count_tokens

__all__ = ["Reply", "send_json"]

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

_PIECES_PER_CHUNK = 16
_DONE = b"data: [DONE]\n\n"
_HTML_HEADERS = [(b"content-type", b"text/html; charset=UTF-8")]


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """One complete JSON response."""
    all_headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if headers:
        all_headers += headers
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


class ReplyHost(Protocol):
    """What a reply needs of the simulator (`SimApp`), named here so the two modules do
    not import each other."""

    faults: FaultPlan
    stats: SimStats
    profile: Profile
    wall: Callable[[], float]

    def error_body(
        self,
        status: int,
        message: str,
        type_: str,
        code: str | int | None,
        param: str | None = None,
    ) -> bytes: ...

    def spend_quota(self, key: str) -> None: ...


class Reply:
    """Produces the reply to one admitted request, with its fault and latency."""

    def __init__(
        self,
        app: ReplyHost,
        scope: MutableMapping[str, Any],
        receive: Receive,
        send: Send,
        call: ChatCall,
        choices: list[Choice],
        prompt_tokens: int,
        headers: list[tuple[bytes, bytes]],
        *,
        key: str = "",
        is_duplicate: bool = False,
    ) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.call = call
        self.choices = choices
        self.prompt_tokens = prompt_tokens
        self.headers = headers
        self.key = key
        self.is_duplicate = is_duplicate
        self.request_id = ""
        self._watcher: asyncio.Future[Any] | None = None

    @property
    def completion_tokens(self) -> int:
        """Output tokens of every choice."""
        choices = self.choices
        if len(choices) == 1:
            return choices[0].completion_tokens
        return sum(choice.completion_tokens for choice in choices)

    async def run(self, number: int) -> None:
        """Wait the latency, apply the drawn fault, and answer."""
        app = self.app
        self.request_id = f"chatcmpl-sim{number:010d}"
        fault = app.faults.draw(self.call.stream)
        if fault is not None:
            app.stats.faults[fault] += 1
        try:
            await self._run(fault)
        finally:
            if self._watcher is not None and not self._watcher.done():
                self._watcher.cancel()

    async def _run(self, fault: str | None) -> None:
        plan = self.app.faults
        delay = plan.latency()
        if fault == "slow_first_byte":
            delay += plan.slow_seconds
        if not self.call.stream:
            delay += plan.per_token * self.completion_tokens
        if not await self._pause(delay):
            return
        self.headers.append((b"openai-processing-ms", str(round(delay * 1000)).encode()))
        if fault in STATUS_FAULTS:
            await self._status_fault(fault)
            return
        if fault in CLOUDFLARE:
            status, cause = CLOUDFLARE[fault]
            page = cloudflare_page(status, cause, self.app.profile.host)
            await self._send_whole(status, page, _HTML_HEADERS)
            return
        if fault == "drop_connection" and not self.call.stream:
            await self._drop()
            return
        reshape(self.choices, fault, self.call, self.request_id)
        if self.call.stream:
            await self._stream(fault)
        else:
            await self._whole(fault)

    async def _status_fault(self, fault: str) -> None:
        """An error status (or HTTP 200 carrying an error) in the profile's shape."""
        status, message, type_, code = STATUS_FAULTS[fault]
        body = self.app.error_body(status, message, type_, code)
        if fault == "insufficient_quota":
            self.app.spend_quota(self.key)
        await self._json(200 if fault == "error_in_200" else status, body)

    async def _send_whole(self, status: int, body: bytes, kind: list[tuple[bytes, bytes]]) -> None:
        self.app.stats.by_status[status] += 1
        headers = [*kind, (b"content-length", str(len(body)).encode()), *self.headers]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})

    def _count(self) -> None:
        """Count a delivered answer and its tokens."""
        stats = self.app.stats
        stats.completions += 1
        stats.prompt_tokens += self.prompt_tokens
        stats.completion_tokens += self.completion_tokens
        stats.duplicates += self.is_duplicate

    def _usage(self, fault: str | None) -> dict[str, int] | None:
        return (
            None if fault == "no_usage" else usage_dict(self.prompt_tokens, self.completion_tokens)
        )

    async def _whole(self, fault: str | None) -> None:
        choices = [] if fault == "empty_choices" else self.choices
        body = choices_body(
            request_id=self.request_id,
            model=self.call.model,
            created=int(self.app.wall()),
            choices=[
                {
                    "index": index,
                    "message": choice.message(),
                    "logprobs": choice.logprobs,
                    "finish_reason": choice.finish_reason,
                }
                for index, choice in enumerate(choices)
            ],
            usage=self._usage(fault),
        )
        self._count()
        if fault == "malformed_json":
            body = body[: len(body) // 2]
        await self._json(200, body)

    async def _stream(self, fault: str | None) -> None:
        """Server-sent events: role, content pieces, finish, usage, [DONE] (or a fault)."""
        app = self.app
        app.stats.streams += 1
        app.stats.by_status[200] += 1
        await self.send(
            {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *self.headers]}
        )
        pace = app.faults.per_token
        events = self._events(fault, pace > 0)
        if pace <= 0 and fault != "drop_connection":
            await self.send({"type": "http.response.body", "body": b"".join(e for e, _ in events)})
            self._count()
            return
        cut = len(events) // 2 if fault == "drop_connection" else -1
        for index, (event, tokens) in enumerate(events):
            if index == cut:
                await self._drop()
                return
            if tokens and not await self._pause(pace * tokens):
                return
            await self.send({"type": "http.response.body", "body": event, "more_body": True})
        await self.send({"type": "http.response.body", "body": b""})
        self._count()

    def _events(self, fault: str | None, paced: bool) -> list[tuple[bytes, int]]:
        """Every SSE event of the stream with the output tokens it carries (when paced)."""
        ids = StreamIds(self.request_id, self.call.model, int(self.app.wall()))
        usage = self._usage(fault) if self.call.include_usage else None
        usage_event = [(chunk_body(ids, delta=None, usage=usage), 0)] if usage else []
        if fault == "empty_choices":
            return [(chunk_body(ids, delta=None), 0), *usage_event, (_DONE, 0)]
        body: list[tuple[bytes, int]] = []
        finishes: list[tuple[bytes, int]] = []
        for index, choice in enumerate(self.choices):
            body += _choice_events(ids, index, choice, paced)
            finishes.append(
                (chunk_body(ids, delta={}, finish_reason=choice.finish_reason, index=index), 0)
            )
        middle = len(body) // 2 + 1
        if fault == "stream_error":
            style = self.app.profile.stream_errors
            return [*body[:middle], *((e, 0) for e in stream_error_events(style, ids))]
        if fault == "stream_cut":
            return body[:middle]
        if fault == "malformed_json":
            body.insert(middle, (b'data: {"id": "broken", "choices": [\n\n', 0))
        return [*body, *finishes, *usage_event, (_DONE, 0)]

    async def _json(self, status: int, body: bytes) -> None:
        """Send a JSON answer with the reply's headers and count its status."""
        self.app.stats.by_status[status] += 1
        await send_json(self.send, status, body, self.headers)

    async def _pause(self, seconds: float) -> bool:
        """Sleep without blocking; False when the client hung up meanwhile."""
        if seconds <= 0:
            return True
        if self._watcher is None:
            self._watcher = asyncio.ensure_future(self.receive())
        done, _ = await asyncio.wait({self._watcher}, timeout=seconds)
        if done:
            self.app.stats.disconnects += 1
            return False
        return True

    async def _drop(self) -> None:
        """Close the socket mid-exchange: the client sees a broken connection, not a reply."""
        transport = self.scope.get("asyncgen.transport")
        if transport is None:
            raise ConnectionAbortedError("simulated dropped connection")
        transport.abort()
        # Let the server notice the loss, so it does not try to answer on our behalf.
        for _ in range(3):
            await asyncio.sleep(0)


def _choice_events(
    ids: StreamIds, index: int, choice: Choice, paced: bool
) -> list[tuple[bytes, int]]:
    """The role chunk and the content (or refusal, or tool call) chunks of one choice."""
    if choice.tool_calls is not None:
        call = choice.tool_calls[0]
        head = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        args = {"index": 0, "function": {"arguments": call["function"]["arguments"]}}
        return [
            (
                chunk_body(
                    ids,
                    delta={"role": "assistant", "content": None, "tool_calls": [head]},
                    index=index,
                ),
                0,
            ),
            (chunk_body(ids, delta={"tool_calls": [args]}, index=index), choice.completion_tokens),
        ]
    events = [(chunk_body(ids, delta={"role": "assistant", "content": ""}, index=index), 0)]
    field = "content"
    text = choice.content
    if choice.refusal is not None:
        field, text = "refusal", choice.refusal
    if not text:
        return events
    pieces = PIECE.findall(text)
    per_chunk = 1 if paced else _PIECES_PER_CHUNK
    entries = choice.logprobs["content"] if choice.logprobs else None
    for start in range(0, len(pieces), per_chunk):
        part = "".join(pieces[start : start + per_chunk])
        logprobs = None
        if entries is not None:
            logprobs = {"content": entries[start : start + per_chunk], "refusal": None}
        event = chunk_body(ids, delta={field: part}, index=index, logprobs=logprobs)
        events.append((event, count_tokens(part) if paced else 0))
    return events
