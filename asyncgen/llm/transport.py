"""The one transport every model call in asyncgen goes through.

`Transport.chat` = route (endpoint + model) → limiter → HTTP → parse → usage, wrapped in
classified retries. One transport per process: its limiters, counters and budgets are
the whole process's.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import httpx

from asyncgen.config.llm import (
    PROVIDER_DEFAULTS,
    LimitSettings,
    LLMSettings,
    PoolEntry,
    SamplingLists,
)
from asyncgen.config.loader import resolve_api_key
from asyncgen.errors import ConfigError, LLMError, LLMStatusError, RateLimitError
from asyncgen.llm import wire
from asyncgen.llm.client import make_http_client
from asyncgen.llm.headers import RateLimitInfo, parse_rate_limit_headers
from asyncgen.llm.limiter import Permit, RateLimiter
from asyncgen.llm.pool import ModelPool
from asyncgen.llm.retry import RetryPolicy, calculate_retry_timeout, failure_cause, should_retry
from asyncgen.llm.stats import TransportStats
from asyncgen.llm.stream import StreamResult, read_stream
from asyncgen.llm.types import ChatRequest, ChatResult, ModelHandle
from asyncgen.llm.usage import UsageMeter
from asyncgen.prompts import KIND_HEADER

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Endpoint:
    """One base URL with its key, its HTTP client and its limiters by model."""

    provider: str
    base_url: str
    key_env: str
    api_key: str | None
    url: str = ""
    client: httpx.AsyncClient | None = None
    limiters: dict[str, RateLimiter] = field(default_factory=dict)


@dataclass
class Route:
    """Where one model's calls go: the endpoint and its limiter."""

    endpoint: Endpoint
    limiter: RateLimiter
    info: dict[str, Any]


class Transport:
    """Rate-limited, retrying OpenAI chat-completions client with pool, usage and counters."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        api_key: str | None,
        base_url: str | None = None,
        use_limiter: bool = True,
        max_retries: int | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._limits = settings.limits if use_limiter else _unlimited(settings.limits)
        self._override_url = base_url
        self._http_transport = http_transport
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random(0)
        self.policy = RetryPolicy.from_settings(settings.retry, max_retries)
        self._slots = asyncio.Semaphore(self._limits.concurrency)
        self.pool = ModelPool(settings)
        self.usage = UsageMeter(
            settings.prices, max_cost=settings.max_cost, max_tokens=settings.max_tokens
        )
        self.stats = TransportStats(clock, extra=self._extra_snapshot)
        self._default = self._make_endpoint(
            settings.provider, base_url or settings.base_url, settings.api_key_env, api_key
        )
        self._endpoints: dict[tuple[str, str], Endpoint] = {
            (self._default.base_url, self._default.key_env): self._default
        }
        self._routes: dict[tuple[str, str | None, str | None, str], Route] = {}
        self._default_handle = ModelHandle(provider=settings.provider, model=settings.model)
        self._closed = False

    @classmethod
    def from_settings(
        cls,
        settings: LLMSettings,
        *,
        api_key: str | None,
        base_url: str | None = None,
        use_limiter: bool = True,
        max_retries: int | None = None,
        **kwargs: Any,
    ) -> Transport:
        """Build the transport for a run.

        Args:
            settings: the `llm` section of the run config.
            api_key: the key for the configured provider (`resolve_api_key`); None sends none.
            base_url: overrides `llm.base_url` and the provider default, and routes every
                pool entry without its own `base_url` to it (a proxy or the simulator).
            use_limiter: False keeps only the concurrency cap (no RPM/TPM, no learning).
            max_retries: overrides `llm.retry.max_retries`.
            **kwargs: `http_transport`, `clock`, `sleep`, `rng` for tests.

        Raises:
            ConfigError: the provider has no URL (the simulator needs `base_url`).
        """
        return cls(
            settings,
            api_key=api_key,
            base_url=base_url,
            use_limiter=use_limiter,
            max_retries=max_retries,
            **kwargs,
        )

    # -- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every HTTP client (idempotent)."""
        self._closed = True
        for endpoint in self._endpoints.values():
            if endpoint.client is not None:
                client, endpoint.client = endpoint.client, None
                await client.aclose()

    # -- public API ------------------------------------------------------------------

    async def chat(self, request: ChatRequest, handle: ModelHandle | None = None) -> ChatResult:
        """Send one chat completion through the limiter, with classified retries.

        Args:
            request: messages and parameters; `kind` goes out as the X-Asyncgen-Kind header.
            handle: the conversation's locked model; its sampling values fill request fields
                left None. None means the configured provider/model.

        Returns:
            The answer, its usage and how many attempts it took.

        Raises:
            LLMError: a subclass naming the cause, once retries are spent or at once for
                errors retrying cannot fix (400/401/403/404, context length).
        """
        return await self._call(request, handle, streaming=False)

    async def chat_stream(
        self, request: ChatRequest, handle: ModelHandle | None = None
    ) -> StreamResult:
        """Like `chat` with ``stream: true``; also times the first token and the gaps after it."""
        result = await self._call(request, handle, streaming=True)
        assert isinstance(result, StreamResult)
        return result

    def lock_model(
        self,
        rng: random.Random,
        pool: list[PoolEntry] | None = None,
        sampling: SamplingLists | None = None,
        *,
        draw_sampling: bool = True,
    ) -> ModelHandle:
        """Choose one model (by weight) and its sampling values for a whole conversation.

        Args:
            rng: the conversation's seeded generator.
            pool: weighted entries; empty or None means `llm.provider`/`llm.model`.
            sampling: value lists; None means `llm.sampling`.
            draw_sampling: False leaves sampling values to each request.
        """
        return self.pool.lock(rng, pool, sampling, draw_sampling=draw_sampling)

    @property
    def budget_exhausted(self) -> bool:
        """True once `llm.max_cost` or `llm.max_tokens` is spent: start no new work."""
        return self.usage.budget_exhausted

    def projected_cost(self, done: int, target: int) -> float:
        """USD for `target` items at the average cost of the `done` ones so far."""
        return self.usage.projected_cost(done, target)

    def limiter_for(self, handle: ModelHandle | None = None) -> RateLimiter:
        """The limiter that governs `handle`'s model (default: the configured model)."""
        return self._route(handle or self._default_handle).limiter

    # -- the call --------------------------------------------------------------------

    async def _call(
        self, request: ChatRequest, handle: ModelHandle | None, *, streaming: bool
    ) -> ChatResult:
        handle = handle or self._default_handle
        route = self._route(handle)
        if streaming and not request.stream:
            request = _with_stream(request)
        payload = wire.encode(wire.build_body(request, handle))
        headers = {KIND_HEADER: request.kind}
        self.stats.requests += 1
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await self._attempt(route, request, payload, headers, streaming)
            except LLMError as exc:
                delay = self._after_failure(exc, attempt)
                if delay is None:
                    raise
                if delay > 0:
                    await self._sleep(delay)
                continue
            return self._finish(result, handle, attempt)

    def _after_failure(self, exc: LLMError, attempt: int) -> float | None:
        """Count the failure; the backoff before the next attempt, or None to give up."""
        cause = failure_cause(exc)
        exc.request["attempts"] = attempt
        if attempt > self.policy.max_retries or not should_retry(exc, self.policy):
            self.stats.failures[cause] += 1
            self.stats.record_done()
            return None
        self.stats.retries[cause] += 1
        retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
        return calculate_retry_timeout(attempt, self.policy, self._rng, retry_after)

    def _finish(self, result: ChatResult, handle: ModelHandle, attempt: int) -> ChatResult:
        result.attempts = attempt
        result.provider = handle.provider
        self.usage.add(handle.model, result.prompt_tokens, result.completion_tokens)
        self.stats.successes += 1
        self.stats.record_done()
        return result

    async def _attempt(
        self,
        route: Route,
        request: ChatRequest,
        payload: bytes,
        headers: dict[str, str],
        streaming: bool,
    ) -> ChatResult:
        """One HTTP exchange inside the limiter; releases its permit whatever happens."""
        limiter = route.limiter
        prompt_est, completion_est = (
            self._estimate(request) if limiter.needs_token_estimate else (0, 0)
        )
        permit = await limiter.acquire(prompt_est, completion_est)
        self.stats.attempts += 1
        self.stats.in_flight += 1
        started = self._clock()
        outcome, used, info, retry_after = "cancelled", None, None, None
        try:
            result, info = await self._exchange(
                route, request, payload, headers, streaming, started
            )
            outcome, used = "ok", result.prompt_tokens + result.completion_tokens
            self.stats.record_latency(result.latency)
            return result
        except LLMError as exc:
            outcome, info, retry_after = _outcome_of(exc)
            if isinstance(exc, RateLimitError):
                self.stats.rate_limited += 1
            raise
        finally:
            self.stats.in_flight -= 1
            self._release(
                limiter, permit, outcome, self._clock() - started, used, info, retry_after
            )

    def _release(
        self,
        limiter: RateLimiter,
        permit: Permit,
        outcome: str,
        latency: float,
        used: int | None,
        info: RateLimitInfo | None,
        retry_after: float | None,
    ) -> None:
        limiter.release(
            permit,
            outcome=outcome,
            latency=latency,
            used_tokens=used,
            info=info,
            retry_after=retry_after,
        )

    async def _exchange(
        self,
        route: Route,
        request: ChatRequest,
        payload: bytes,
        headers: dict[str, str],
        streaming: bool,
        started: float,
    ) -> tuple[ChatResult, RateLimitInfo]:
        """POST and parse; every lower-layer exception becomes an `LLMError` here."""
        client = self._client(route.endpoint)
        info = route.info
        try:
            async with asyncio.timeout(self.settings.timeouts.read):
                if streaming:
                    return await read_stream(
                        client,
                        route.endpoint.url,
                        payload,
                        headers,
                        request,
                        info,
                        self._clock,
                        started,
                        route.endpoint.key_env,
                    )
                response = await client.post(route.endpoint.url, content=payload, headers=headers)
        except wire.TRANSPORT_EXCEPTIONS as exc:
            raise wire.transport_error(exc, info=info) from exc
        limits = parse_rate_limit_headers(response.headers)
        if response.status_code >= 300:
            error = wire.status_error(response, info=info, key_env=route.endpoint.key_env)
            error.request["ratelimit"] = limits
            raise error
        completion = wire.parse_completion(
            response.content, require_complete=request.require_complete, info=info
        )
        return _result(completion, route, self._clock() - started), limits

    # -- routing ---------------------------------------------------------------------

    def _route(self, handle: ModelHandle) -> Route:
        key = (handle.provider, handle.base_url, handle.api_key_env, handle.model)
        route = self._routes.get(key)
        if route is None:
            endpoint = self._endpoint_for(handle)
            limiter = endpoint.limiters.get(handle.model)
            if limiter is None:
                limiter = RateLimiter(
                    self._limits,
                    slots=self._slots,
                    clock=self._clock,
                    sleep=self._sleep,
                    name=f"{endpoint.base_url} {handle.model}",
                )
                endpoint.limiters[handle.model] = limiter
            info = {
                "base_url": endpoint.base_url,
                "model": handle.model,
                "provider": endpoint.provider,
            }
            route = self._routes[key] = Route(endpoint, limiter, info)
        return route

    def _endpoint_for(self, handle: ModelHandle) -> Endpoint:
        base_url = handle.base_url
        same_provider = handle.provider == self.settings.provider
        if (
            base_url is None
            and (self._override_url or same_provider)
            and handle.api_key_env is None
        ):
            return self._default
        if base_url is None:
            base_url = self._override_url or PROVIDER_DEFAULTS[handle.provider][0]
        key_env = handle.api_key_env or PROVIDER_DEFAULTS[handle.provider][1]
        found = self._endpoints.get((base_url.rstrip("/"), key_env))
        if found is None:
            key = resolve_api_key(
                self.settings.model_copy(
                    update={"provider": handle.provider, "api_key_env": key_env}
                )
            )
            found = self._make_endpoint(handle.provider, base_url, key_env, key)
            self._endpoints[(found.base_url, found.key_env)] = found
        return found

    def _make_endpoint(
        self, provider: str, base_url: str | None, key_env: str | None, api_key: str | None
    ) -> Endpoint:
        default_url, default_env = PROVIDER_DEFAULTS[provider]
        url = (base_url or default_url).rstrip("/")
        if not url:
            raise ConfigError(
                f"provider {provider!r} has no default URL: pass --base-url (e.g. the one "
                "`asyncgen sim serve` prints)"
            )
        env = key_env or default_env
        return Endpoint(provider, url, env, api_key, url=f"{url}/chat/completions")

    def _client(self, endpoint: Endpoint) -> httpx.AsyncClient:
        if endpoint.client is None:
            if self._closed:
                raise RuntimeError("transport is closed")
            endpoint.client = make_http_client(
                self.settings, api_key=endpoint.api_key, transport=self._http_transport
            )
        return endpoint.client

    def _estimate(self, request: ChatRequest) -> tuple[int, int]:
        """Prompt tokens (counted) and answer tokens (max_tokens, or the configured estimate)."""
        from asyncgen.tokens import count_message_tokens

        completion = request.max_tokens or self._limits.completion_estimate
        return count_message_tokens(request.messages), completion

    # -- counters --------------------------------------------------------------------

    def _extra_snapshot(self) -> dict[str, Any]:
        limiter = self._default.limiters.get(self.settings.model)
        if limiter is None and self._routes:
            limiter = next(iter(self._routes.values())).limiter
        return {
            "tokens_in": self.usage.tokens_in,
            "tokens_out": self.usage.tokens_out,
            "cost_usd": round(self.usage.cost_usd, 6),
            "budget_exhausted": self.usage.budget_exhausted,
            "rpm_limit": limiter.rpm_limit if limiter else self._limits.rpm,
            "tpm_limit": limiter.tpm_limit if limiter else self._limits.tpm,
            "concurrency_limit": limiter.window.size if limiter else self._limits.concurrency,
            "concurrency_cap": self._limits.concurrency,
            "model_mix": dict(self.pool.mix),
            "usage_by_model": self.usage.snapshot(),
            "limiters": {
                r.limiter.name: _limiter_snapshot(r.limiter) for r in self._routes.values()
            },
        }


def _limiter_snapshot(limiter: RateLimiter) -> dict[str, Any]:
    return {
        "rpm_limit": limiter.rpm_limit,
        "tpm_limit": limiter.tpm_limit,
        "window": limiter.window.size,
        "waiting": limiter.window.waiting,
        "adaptive": limiter.is_adaptive,
        "paused_for": round(limiter.paused_for, 3),
        "pauses": limiter.pauses,
    }


def _outcome_of(exc: LLMError) -> tuple[str, RateLimitInfo | None, float | None]:
    info = exc.request.pop("ratelimit", None)
    if isinstance(exc, RateLimitError):
        return "rate_limited", info, exc.retry_after
    if isinstance(exc, LLMStatusError) and exc.status_code == 503:
        return "overloaded", info, None
    return failure_cause(exc), info, None


def _result(completion: wire.Completion, route: Route, latency: float) -> ChatResult:
    return ChatResult(
        content=completion.content,
        model=completion.model or route.info["model"],
        provider=route.endpoint.provider,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency=latency,
        request_id=completion.request_id,
        raw=completion.raw,
    )


def _with_stream(request: ChatRequest) -> ChatRequest:
    from dataclasses import replace

    return replace(request, stream=True)


def _unlimited(limits: LimitSettings) -> LimitSettings:
    return limits.model_copy(
        update={"rpm": None, "tpm": None, "adaptive": False, "learn_from_headers": False}
    )
