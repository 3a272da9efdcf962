"""The benchmark's view of the endpoint: asyncgen's transport with retries and limiter off.

The transport is built with ``use_limiter=False, max_retries=0`` so each request is one
attempt and every failure reaches the statistics. Its HTTP layer is wrapped in a
`HeaderTap` (through the transport's `http_transport` hook) that keeps the
``x-ratelimit-*`` headers of every response: the limits the endpoint advertises, and
the remaining-budget trace that shows whether a rate drains the endpoint's bucket.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from asyncgen.bench._sample import LimitSample
from asyncgen.bench._step import Clock, Reply
from asyncgen.config.bench import BenchSettings
from asyncgen.config.llm import LLMSettings
from asyncgen.llm import RateLimitInfo, StreamResult, Transport, parse_rate_limit_headers
from asyncgen.llm.types import ChatRequest, ChatResult


class HeaderTap(httpx.AsyncBaseTransport):
    """An httpx transport that passes every request on and keeps its rate-limit headers."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: Clock = time.monotonic) -> None:
        self.inner = inner
        self.clock = clock
        self.latest: RateLimitInfo | None = None
        self.first: RateLimitInfo | None = None
        self.trace: list[LimitSample] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Forward the request; note the response's x-ratelimit-* headers.

        The note is stamped with the send time, when the endpoint's limiter saw the
        request, not the arrival time, which latency noise would scramble.
        """
        sent = self.clock()
        response = await self.inner.handle_async_request(request)
        info = parse_rate_limit_headers(response.headers)
        if not info.is_empty:
            if self.first is None:
                self.first = info
            self.latest = info
            self.trace.append(LimitSample(sent, info))
        return response

    def take_trace(self) -> list[LimitSample]:
        """The headers seen since the last call, oldest first."""
        trace, self.trace = self.trace, []
        return trace

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self.inner.aclose()


def _inner_transport(llm: LLMSettings, size: int) -> httpx.AsyncBaseTransport:
    """The same backend the transport would choose, with a pool as large as the bench needs
    (aiohttp for ``native``: the tap needs an httpx transport, and httpx's own pool costs
    several times the CPU per request, which skews send times at saturation)."""
    limits = httpx.Limits(
        max_connections=size, max_keepalive_connections=size, keepalive_expiry=30.0
    )
    if llm.http_backend in ("native", "aiohttp"):
        from httpx_aiohttp import AiohttpTransport

        return AiohttpTransport(limits=limits)
    return httpx.AsyncHTTPTransport(limits=limits)


class TransportProbe:
    """Sends one bench request through the transport and reports what came back."""

    def __init__(self, transport: Transport, tap: HeaderTap) -> None:
        self.transport = transport
        self.tap = tap

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls,
        llm: LLMSettings,
        base_url: str,
        model: str,
        api_key: str | None,
        bench: BenchSettings,
        clock: Clock = time.monotonic,
    ) -> AsyncIterator[TransportProbe]:
        """A probe on a transport with retries and limiter off, closed on exit."""
        limits = llm.limits.model_copy(update={"concurrency": bench.max_concurrency})
        settings = llm.model_copy(update={"model": model, "limits": limits})
        tap = HeaderTap(_inner_transport(settings, bench.max_concurrency), clock)
        transport = Transport.from_settings(
            settings,
            api_key=api_key,
            base_url=base_url,
            use_limiter=False,
            max_retries=0,
            http_transport=tap,
            clock=clock,
        )
        async with transport:
            yield cls(transport, tap)

    async def send(self, request: ChatRequest) -> Reply:
        """One attempt, streamed when the request asks for it; raises `LLMError` on failure."""
        result: ChatResult
        if request.stream:
            result = await self.transport.chat_stream(request)
        else:
            result = await self.transport.chat(request)
        ttft = result.ttft if isinstance(result, StreamResult) else None
        itl = tuple(result.itl) if isinstance(result, StreamResult) else ()
        return Reply(
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency=result.latency,
            ttft=ttft,
            itl=itl,
        )

    def take_limits_trace(self) -> list[LimitSample]:
        """Rate-limit headers seen since the last call."""
        return self.tap.take_trace()

    def advertised(self) -> dict[str, Any]:
        """The limits of the last response that carried x-ratelimit-* headers."""
        info = self.tap.latest
        if info is None:
            return {}
        first = self.tap.first or info
        return {
            "limit_requests": info.limit_requests,
            "limit_tokens": info.limit_tokens,
            "remaining_requests": info.remaining_requests,
            "remaining_tokens": info.remaining_tokens,
            "reset_requests": info.reset_requests,
            "reset_tokens": info.reset_tokens,
            "first_remaining_requests": first.remaining_requests,
            "first_remaining_tokens": first.remaining_tokens,
            "daily_requests": info.daily_requests,
            "limit_input_tokens": info.limit_input_tokens,
            "limit_output_tokens": info.limit_output_tokens,
            "fixed_window_requests": info.fixed_window_requests,
        }
