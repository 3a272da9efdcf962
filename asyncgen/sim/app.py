"""The simulator as a plain ASGI callable: no framework, one dictionary lookup per route.

Order of work for ``POST /v1/chat/completions``: authenticate (401), parse (400), answer
(content and usage are cheap, so they are known before admission), rate limit (429, which
consumes nothing unless `refused_use_quota`), overload (503 or queue), then a fault draw,
latency, and the reply. The profile (`asyncgen.sim.profiles`) decides the header dialect,
the error shape and the retry hint; every completions answer, 4xx included, carries the
request id and the limit headers (a proxy profile: the upstream's, on answers that reached
it).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

import orjson

from asyncgen.config.sim import RetryAfterStyle, SimSettings
from asyncgen.kinds import KIND_HEADER
from asyncgen.sim.batch_api import PREFIXES as BATCH_PREFIXES
from asyncgen.sim.batch_api import BatchRoutes
from asyncgen.sim.choices import build_choices
from asyncgen.sim.content import Answer, Answerer
from asyncgen.sim.dialects import HeaderList, dialect
from asyncgen.sim.error_shapes import ERROR_SHAPES
from asyncgen.sim.faults import FaultPlan
from asyncgen.sim.messages import rate_limit_message, too_large_message
from asyncgen.sim.outcomes import STATUS_FAULTS
from asyncgen.sim.profiles import PROFILES
from asyncgen.sim.ratelimit import Admission, DimensionState, RateLimiter, retry_after_headers
from asyncgen.sim.reply import Reply, send_json
from asyncgen.sim.request import ChatCall, RequestError, Validation, parse_chat_call
from asyncgen.sim.responders import known_kinds
from asyncgen.sim.stats import SimStats
from asyncgen.sim.wire import models_body
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
        self.profile = PROFILES[settings.profile]
        self.limiter = RateLimiter(
            settings.rpm,
            settings.tpm,
            algorithm=settings.algorithm,
            rpd=settings.rpd,
            concurrency=settings.concurrency_limit,
            input_tpm=settings.input_tpm,
            output_tpm=settings.output_tpm,
            sub_window=settings.sub_window,
            burst_allowance=settings.burst_allowance,
            gcra_burst=settings.gcra_burst,
            refused_use_quota=settings.refused_use_quota,
            clock=clock,
            wall=wall,
        )
        self.upstream = _upstream(settings, clock) if self.profile.upstream else None
        self.retry_after_style: RetryAfterStyle = settings.retry_after or self.profile.retry_after
        self._dialect = dialect(self.profile.dialect)
        self._error_shape = ERROR_SHAPES[self.profile.errors]
        strict = self.profile.strict if settings.strict is None else settings.strict
        self.validation = Validation(strict, tuple(settings.reasoning_models))
        self._spent: set[str] = set()  # keys whose quota an insufficient_quota fault spent
        self.faults = FaultPlan(settings)
        self.answerer = Answerer(
            seed=settings.seed,
            duplicate_rate=settings.duplicate_rate,
            malformed_rate=settings.malformed_rate,
            contradiction_rate=settings.persona_contradiction_rate,
        )
        self._bearer = f"Bearer {settings.api_key}".encode() if settings.api_key else None
        self._ids = itertools.count(1)
        self._slots: asyncio.Semaphore | None = None
        self._batch: BatchRoutes | None = None
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
            if handler is None and scope["path"].startswith(BATCH_PREFIXES):
                handler = self._batch_routes().handle  # the Batch API (sim/batch_api.py)
            if handler is None:
                await self._not_found(scope, send)
            else:
                await handler(scope, receive, send)
        elif scope["type"] == "lifespan":
            await _lifespan(receive, send, self)

    async def aclose(self) -> None:
        """Stop batch work and remove the batch files (the server calls it on its way out:
        it runs without ASGI lifespan events, so their shutdown never comes)."""
        if self._batch is not None:
            await self._batch.aclose()

    def _batch_routes(self) -> BatchRoutes:
        """Files and batches, created on first use (online-only runs never pay for them)."""
        if self._batch is None:
            self._batch = BatchRoutes(self, self._authorize, self._unauthorized)
        return self._batch

    def error_body(
        self,
        status: int,
        message: str,
        type_: str,
        code: str | int | None,
        param: str | None = None,
    ) -> bytes:
        """An error body in the profile's provider's shape."""
        return self._error_shape(status, message, type_, code, param)

    def request_headers(self, number: int) -> HeaderList:
        """The request id, under each name the profile's provider uses."""
        value = f"req_sim{number:010d}".encode()
        return [(name, value) for name in self.profile.request_id_headers]

    def limit_headers(self, states: list[DimensionState], number: int) -> HeaderList:
        """The limit headers in the profile's dialect (a proxy: also prefixed llm_provider-)."""
        if not states:
            return []
        headers = self._dialect(states, self.wall(), number)
        if self.upstream is not None:
            headers += [(b"llm_provider-" + name, value) for name, value in headers]
        return headers

    async def _not_found(self, scope: Scope, send: Send) -> None:
        message = f"Unknown request URL: {scope['method']} {scope['path']}."
        body = self.error_body(404, message, "invalid_request_error", "unknown_url")
        await send_json(send, 404, body, self.request_headers(next(self._ids)))

    async def _models(self, scope: Scope, receive: Receive, send: Send) -> None:
        number = next(self._ids)
        if self._authorize(scope) is None:
            await self._unauthorized(scope, send, self.request_headers(number))
            return
        body = models_body(self.settings.models, int(self.wall()))
        await send_json(send, 200, body, self.request_headers(number))

    async def _stats(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_json(send, 200, orjson.dumps(self.stats.snapshot()))

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Liveness, as vLLM and most proxies offer it."""
        await send_json(send, 200, b'{"status":"ok"}')

    async def _reset(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Zero the counters and forget rate-limit usage (remembered answers stay)."""
        self.stats.reset()
        self.limiter.reset()
        self._spent.clear()
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

    async def _unauthorized(
        self, scope: Scope, send: Send, headers: HeaderList | None = None
    ) -> None:
        if headers is None:
            headers = self.request_headers(next(self._ids))
        has_header = any(name == b"authorization" for name, _ in scope["headers"])
        message, code = (_BAD_KEY, "invalid_api_key") if has_header else (_NO_KEY, None)
        self.stats.unauthorized += 1
        body = self.error_body(401, message, "invalid_request_error", code)
        await self._reply(send, 401, body, headers)

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
            await self._complete(scope, receive, send, next(self._ids))
        finally:
            self.stats.leave()

    def _peek_headers(self, key: str, number: int) -> HeaderList:
        """Request id and the key's limit state, for an answer refused before admission."""
        headers = self.request_headers(number)
        if self.upstream is None:
            headers += self.limit_headers(self.limiter.peek(key), number)
        return headers

    async def _complete(self, scope: Scope, receive: Receive, send: Send, number: int) -> None:
        key = self._authorize(scope)
        if key is None:
            await self._unauthorized(scope, send, self._peek_headers("", number))
            return
        body = await _read_body(receive)
        if body is None:
            self.stats.disconnects += 1
            return
        try:
            call = parse_chat_call(body, self.validation)
            prompt_tokens = count_message_tokens(call.messages)
            self._check_context(call, prompt_tokens)
        except RequestError as exc:
            error = self.error_body(400, str(exc), "invalid_request_error", exc.code, exc.param)
            await self._reply(send, 400, error, self._peek_headers(key, number))
            return
        if key in self._spent:
            await self._status_fault(send, "insufficient_quota", self._peek_headers(key, number))
            return
        kind = _header(scope, _KIND_HEADER, "generic")
        answer = None
        if call.max_tokens is None and self.limiter.limits_tokens:
            # The charge needs the answer's size when max_tokens does not bound it.
            answer = self._answer(kind, call)
        per_choice = call.max_tokens or (answer.completion_tokens if answer else 0)
        cost = prompt_tokens + call.n * per_choice
        admission = self.limiter.admit(key, cost, prompt_tokens)
        # A proxy shows no limits of its own: only what reached the upstream has headers.
        show_limits = self.upstream is None
        if admission.admitted and self.upstream is not None:
            upstream = self.upstream.admit(key, cost, prompt_tokens)
            if not upstream.admitted:
                admission.release()
                admission = upstream
            else:  # the upstream's state fills the headers; the proxy's slot is kept
                admission.states = upstream.states
            show_limits = True
        if not admission.admitted:
            await self._rate_limited(send, admission, cost, call.model, number, show_limits)
            return
        answer = answer or self._answer(kind, call)
        headers = self.request_headers(number) + self.limit_headers(admission.states, number)
        reply = Reply(
            self,
            scope,
            receive,
            send,
            call,
            build_choices(self.answerer, kind, call, answer, f"chatcmpl-sim{number:010d}"),
            prompt_tokens,
            headers,
            key=key,
            is_duplicate=answer.is_duplicate,
        )
        try:
            await self._serve(send, reply, number)
        finally:
            admission.release()

    def _check_context(self, call: ChatCall, prompt_tokens: int) -> None:
        """OpenAI's context_length_exceeded: the prompt plus max_tokens over the window."""
        window = self.settings.context_window
        wanted = prompt_tokens + (call.max_tokens or 0)
        if wanted <= window:
            return
        if call.max_tokens is None or prompt_tokens > window:
            detail = f"your messages resulted in {prompt_tokens} tokens"
        else:
            detail = (
                f"you requested {wanted} tokens ({prompt_tokens} in the messages, "
                f"{call.max_tokens} in the completion)"
            )
        raise RequestError(
            f"This model's maximum context length is {window} tokens. However, {detail}. "
            "Please reduce the length of the messages or completion.",
            "messages",
            "context_length_exceeded",
        )

    def spend_quota(self, key: str) -> None:
        """An insufficient_quota fault: this key is refused from now on (until a reset)."""
        self._spent.add(key)

    async def _status_fault(self, send: Send, fault: str, headers: HeaderList) -> None:
        status, message, type_, code = STATUS_FAULTS[fault]
        self.stats.faults[fault] += 1
        await self._reply(send, status, self.error_body(status, message, type_, code), headers)

    def _answer(self, kind: str, call: ChatCall) -> Answer:
        return self.answerer.answer(
            kind, call.messages, model=call.model, max_tokens=call.max_tokens, params=call.params
        )

    async def _rate_limited(
        self,
        send: Send,
        admission: Admission,
        cost: int,
        model: str,
        number: int,
        show_limits: bool,
    ) -> None:
        self.stats.rate_limited += 1
        if admission.too_large:
            message = too_large_message(model, admission, cost)
            wait = 60.0
        else:
            wait = admission.retry_after
            message = rate_limit_message(
                self.profile.name, self.limiter.algorithm, admission, model, cost
            )
        headers = self.request_headers(number)
        headers += retry_after_headers(self.retry_after_style, wait, self.wall())
        if show_limits:
            headers += self.limit_headers(admission.states, number)
        type_ = "tokens" if "tokens" in admission.dimension else "requests"
        body = self.error_body(429, message, type_, "rate_limit_exceeded")
        await self._reply(send, 429, body, headers)

    async def _serve(self, send: Send, reply: Reply, number: int) -> None:
        """Hold a service slot (or refuse, when overloaded) while the reply is produced."""
        limit = self.settings.max_concurrency
        if limit is not None and self.settings.overload == "reject":
            if self.stats.in_service >= limit:
                self.stats.overloaded += 1
                message = "The server is overloaded: too many requests in service; retry later."
                body = self.error_body(503, message, "server_error", 503)
                await self._reply(send, 503, body, reply.headers)
                return
        elif limit is not None and self._slots is None:
            self._slots = asyncio.Semaphore(limit)
        if self._slots is not None:
            await self._slots.acquire()
        self.stats.start_service()
        try:
            await reply.run(number)
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


def _upstream(settings: SimSettings, clock: Callable[[], float]) -> RateLimiter:
    """A proxy's upstream: minute buckets at the upstream limits (default 10x the proxy's),
    without a 1 s sub-window, so the proxy's own limits bind first unless set higher."""
    rpm = settings.upstream_rpm or (settings.rpm * 10 if settings.rpm else None)
    tpm = settings.upstream_tpm or (settings.tpm * 10 if settings.tpm else None)
    return RateLimiter(rpm, tpm, sub_window=60.0, burst_allowance=0.0, clock=clock)


def _header(scope: Scope, name: bytes, default: str) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1")) or default
    return default


async def _lifespan(receive: Receive, send: Send, app: SimApp | None = None) -> None:
    """Load the responders at startup; at shutdown, stop batches and remove their files."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            known_kinds()  # import every responder now, not on the first request
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if app is not None:
                await app.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
