"""One admitted completion: wait, maybe misbehave, then answer (whole or streamed)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from asyncgen.sim.content import Answer
from asyncgen.sim.request import ChatCall
from asyncgen.sim.wire import (
    JSON_HEADERS,
    SSE_HEADERS,
    StreamIds,
    chunk_body,
    completion_body,
    usage_dict,
)
from asyncgen.tokens import count_tokens, truncate_to_tokens

if TYPE_CHECKING:
    from asyncgen.sim.app import SimApp

__all__ = ["Reply", "send_json"]

Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

_PIECE = re.compile(r"\S+\s*|\s+")
_PIECES_PER_CHUNK = 16
_DONE = b"data: [DONE]\n\n"
_ERROR_500 = ("The server had an error while processing your request. Sorry about that!", 500)
_ERROR_503 = ("The engine is currently overloaded, please try again later.", 503)


async def send_json(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """One complete JSON response."""
    all_headers = [*JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if headers:
        all_headers += headers
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


class Reply:
    """Produces the reply to one admitted request, with its fault and latency."""

    def __init__(
        self,
        app: SimApp,
        scope: MutableMapping[str, Any],
        receive: Receive,
        send: Send,
        call: ChatCall,
        answer: Answer,
        prompt_tokens: int,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        self.app = app
        self.scope = scope
        self.receive = receive
        self.send = send
        self.call = call
        self.answer = answer
        self.prompt_tokens = prompt_tokens
        self.headers = headers
        self._watcher: asyncio.Future[Any] | None = None

    async def run(self, number: int) -> None:
        """Wait the latency, apply the drawn fault, and answer."""
        app = self.app
        self.request_id = f"chatcmpl-sim{number:010d}"
        fault = app.faults.draw()
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
            delay += plan.per_token * self.answer.completion_tokens
        if not await self._pause(delay):
            return
        self.headers.append((b"openai-processing-ms", str(round(delay * 1000)).encode()))
        if fault in ("error_500", "error_503"):
            message, status = _ERROR_500 if fault == "error_500" else _ERROR_503
            body = self.app.error_body(status, message, "server_error", None)
            await self.app._reply(self.send, status, body, self.headers)
            return
        if fault == "drop_connection" and not self.call.stream:
            await self._drop()
            return
        self._shape(fault)
        if self.call.stream:
            await self._stream(fault)
        else:
            await self._whole(fault)

    def _shape(self, fault: str | None) -> None:
        """Apply the content faults: empty, or truncated at "length"."""
        answer = self.answer
        if fault == "empty_content":
            self.answer = Answer("", "stop", 0, answer.is_duplicate)
        elif fault == "truncate_length":
            keep = max(0, answer.completion_tokens // 2)
            text = truncate_to_tokens(answer.content, keep)
            self.answer = Answer(text, "length", count_tokens(text), answer.is_duplicate)

    def _count(self) -> None:
        """Count a delivered answer and its tokens."""
        stats = self.app.stats
        stats.completions += 1
        stats.prompt_tokens += self.prompt_tokens
        stats.completion_tokens += self.answer.completion_tokens
        stats.duplicates += self.answer.is_duplicate

    async def _whole(self, fault: str | None) -> None:
        body = completion_body(
            request_id=self.request_id,
            model=self.call.model,
            created=int(self.app.wall()),
            content=self.answer.content,
            finish_reason=self.answer.finish_reason,
            usage=usage_dict(self.prompt_tokens, self.answer.completion_tokens),
        )
        self._count()
        if fault == "malformed_json":
            body = body[: len(body) // 2]
        await self.app._reply(self.send, 200, body, self.headers)

    async def _stream(self, fault: str | None) -> None:
        """Server-sent events: role, content pieces, finish, usage, [DONE]."""
        app = self.app
        app.stats.streams += 1
        app.stats.by_status[200] += 1
        usage = usage_dict(self.prompt_tokens, self.answer.completion_tokens)
        await self.send(
            {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *self.headers]}
        )
        events = self._events(usage, fault)
        pace = app.faults.per_token
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

    def _events(self, usage: dict[str, int], fault: str | None) -> list[tuple[bytes, int]]:
        """Every SSE event of the stream with the output tokens it carries."""
        ids = StreamIds(self.request_id, self.call.model, int(self.app.wall()))
        events = [(chunk_body(ids, delta={"role": "assistant", "content": ""}), 0)]
        per_chunk = 1 if self.app.faults.per_token > 0 else _PIECES_PER_CHUNK
        pieces = _PIECE.findall(self.answer.content)
        for start in range(0, len(pieces), per_chunk):
            text = "".join(pieces[start : start + per_chunk])
            events.append((chunk_body(ids, delta={"content": text}), count_tokens(text)))
        if fault == "malformed_json":
            events.insert(len(events) // 2 + 1, (b'data: {"id": "broken", "choices": [\n\n', 0))
        events.append((chunk_body(ids, delta={}, finish_reason=self.answer.finish_reason), 0))
        if self.call.include_usage:
            events.append((chunk_body(ids, delta=None, usage=usage), 0))
        events.append((_DONE, 0))
        return events

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
