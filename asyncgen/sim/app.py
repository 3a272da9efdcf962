"""The simulator as a plain ASGI callable: no framework, one dictionary lookup per route.

Order of work for ``POST /v1/chat/completions``: authenticate (401), parse (400), answer
(content and usage are cheap, so they are known before admission), rate limit (429, which
consumes nothing), overload (503 or queue), then a fault draw, latency, and the reply.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from asyncgen.config.sim import RetryAfterStyle, SimSettings
from asyncgen.prompts import KIND_HEADER
from asyncgen.sim.content import Answer, Answerer
from asyncgen.sim.faults import FaultPlan
from asyncgen.sim.ratelimit import Admission, RateLimiter, retry_after_headers
from asyncgen.sim.reply import Reply, send_json
from asyncgen.sim.request import ChatCall, RequestError, parse_chat_call
from asyncgen.sim.responders import known_kinds
from asyncgen.sim.stats import SimStats
from asyncgen.sim.wire import error_body, models_body
from asyncgen.tokens import count_message_tokens

__all__ = ["TRANSPORT_SCOPE_KEY", "SimApp"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

TRANSPORT_SCOPE_KEY = "asyncgen.transport"
_KIND_HEADER = KIND_HEADER.lower().encode()
_NO_KEY = "You didn't provide an API key. Provide it in an Authorization header (Bearer auth)."
_BAD_KEY = "Incorrect API key provided."


class SimApp:
    """The OpenAI-compatible simulator: completions, models, stats, reset."""

    def __init__(
        self,
        settings: SimSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.wall = wall
        self.stats = SimStats()
        self.limiter = RateLimiter(
            settings.rpm,
            settings.tpm,
            algorithm=settings.limiter or "token_bucket",
            rpd=settings.rpd,
            concurrency=settings.concurrency_limit,
            sub_window=settings.sub_window,
            burst_allowance=settings.burst_allowance,
            gcra_burst=settings.gcra_burst,
            refused_use_quota=settings.refused_use_quota,
            clock=clock,
            wall=wall,
        )
        self.retry_after_style: RetryAfterStyle = settings.retry_after or "seconds_and_ms"
        self.faults = FaultPlan(settings)
        self.answerer = Answerer(
            seed=settings.seed,
            duplicate_rate=settings.duplicate_rate,
            malformed_rate=settings.malformed_rate,
        )
        self._bearer = f"Bearer {settings.api_key}".encode() if settings.api_key else None
        self._ids = itertools.count(1)
        self._slots: asyncio.Semaphore | None = None
        self._routes: dict[tuple[str, str], Callable[[Scope, Receive, Send], Awaitable[None]]] = {
            ("POST", "/v1/chat/completions"): self._completions,
            ("POST", "/chat/completions"): self._completions,
            ("GET", "/v1/models"): self._models,
            ("GET", "/sim/stats"): self._stats,
            ("POST", "/sim/reset"): self._reset,
            ("GET", "/health"): self._health,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] == "http":
            handler = self._routes.get((scope["method"], scope["path"]))
            if handler is None:
                await self._not_found(scope, send)
            else:
                await handler(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send)

    async def _not_found(self, scope: Scope, send: Send) -> None:
        message = f"Unknown request URL: {scope['method']} {scope['path']}."
        await send_json(send, 404, error_body(message, "invalid_request_error", "unknown_url"))

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._authorize(scope) is None:
            await self._unauthorized(scope, send)
            return
        await send_json(send, 200, models_body(self.settings.models, int(self.wall())))

    async def _stats(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, orjson.dumps(self.stats.snapshot()))

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Liveness, as vLLM and most proxies offer it."""
        await send_json(send, 200, b'{"status":"ok"}')

    async def _reset(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Zero the counters and forget rate-limit usage (remembered answers stay)."""
        self.stats.reset()
        self.limiter.reset()
        await send_json(send, 200, b'{"reset":true}')

    def _authorize(self, scope: Scope) -> str | None:
        """The rate-limit key for this caller, or None when the key is missing or wrong."""
        auth = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
                break
        if self._bearer is not None and auth != self._bearer:
            return None
        return auth.decode("latin-1")

    async def _unauthorized(self, scope: Scope, send: Send) -> None:
        has_header = any(name == b"authorization" for name, _ in scope["headers"])
        message, code = (_BAD_KEY, "invalid_api_key") if has_header else (_NO_KEY, None)
        self.stats.unauthorized += 1
        await self._reply(send, 401, error_body(message, "invalid_request_error", code))

    async def _reply(
        self, send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> None:
        """Send a JSON reply to a completions request and count its status."""
        self.stats.by_status[status] += 1
        await send_json(send, status, body, list(headers))

    async def _completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.stats.requests += 1
        self.stats.enter()
        try:
            await self._complete(scope, receive, send)
        finally:
            self.stats.leave()

    async def _complete(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = self._authorize(scope)
        if key is None:
            await self._unauthorized(scope, send)
            return
        body = await _read_body(receive)
        if body is None:
            self.stats.disconnects += 1
            return
        try:
            call = parse_chat_call(body)
        except RequestError as exc:
            await self._reply(
                send, 400, error_body(str(exc), "invalid_request_error", None, exc.param)
            )
            return
        kind = _header(scope, _KIND_HEADER, "generic")
        prompt_tokens = count_message_tokens(call.messages)
        answer = None
        if call.max_tokens is None and self.limiter.tpm is not None:
            # The charge needs the answer's size when max_tokens does not bound it.
            answer = self._answer(kind, call)
        cost = prompt_tokens + (call.max_tokens or (answer.completion_tokens if answer else 0))
        admission = self.limiter.admit(key, cost)
        if not admission.admitted:
            await self._rate_limited(send, admission, cost)
            return
        answer = answer or self._answer(kind, call)
        try:
            await self._serve(scope, receive, send, call, answer, prompt_tokens, admission)
        finally:
            admission.release()

    def _answer(self, kind: str, call: ChatCall) -> Answer:
        return self.answerer.answer(
            kind, call.messages, model=call.model, max_tokens=call.max_tokens, params=call.params
        )

    async def _rate_limited(self, send: Send, admission: Admission, cost: int) -> None:
        self.stats.rate_limited += 1
        if admission.too_large:
            limit = self.limiter.tpm
            message = f"Request too large: tokens per min (TPM) limit {limit}, requested {cost}."
            wait = 60.0
        else:
            wait = admission.retry_after
            message = (
                f"Rate limit reached on {admission.dimension} per min. "
                f"Please try again in {wait:.3f}s."
            )
        headers = [
            *retry_after_headers(self.retry_after_style, wait, self.wall()),
            *admission.headers,
        ]
        body = error_body(message, "rate_limit_exceeded", "rate_limit_exceeded")
        await self._reply(send, 429, body, headers)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        call: ChatCall,
        answer: Answer,
        prompt_tokens: int,
        admission: Admission,
    ) -> None:
        """Hold a service slot (or refuse, when overloaded) while the reply is produced."""
        limit = self.settings.max_concurrency
        if limit is not None and self.settings.overload == "reject":
            if self.stats.in_service >= limit:
                self.stats.overloaded += 1
                message = "The server is overloaded: too many requests in service; retry later."
                await self._reply(
                    send, 503, error_body(message, "server_error", 503), admission.headers
                )
                return
        elif limit is not None and self._slots is None:
            self._slots = asyncio.Semaphore(limit)
        if self._slots is not None:
            await self._slots.acquire()
        self.stats.start_service()
        try:
            reply = Reply(
                self, scope, receive, send, call, answer, prompt_tokens, admission.headers
            )
            await reply.run(next(self._ids))
        finally:
            self.stats.end_service()
            if self._slots is not None:
                self._slots.release()


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _header(scope: Scope, name: bytes, default: str) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1")) or default
    return default


async def _lifespan(receive: Receive, send: Send) -> None:
    """Load the responders at startup; the simulator holds no resources to release."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            known_kinds()  # import every responder now, not on the first request
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
