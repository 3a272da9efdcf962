"""The one transport every model call in asyncgen goes through.

`Transport.chat` = route (endpoint + model) → limiter → HTTP → parse → usage, inside
classified retries. One transport per process: its limiters, counters and budgets are
the whole process's.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from types import TracebackType
from typing import TYPE_CHECKING, Any

from asyncgen.config.llm import LimitSettings, LLMSettings, PoolEntry, SamplingLists
from asyncgen.errors import LLMError, LLMStatusError, RateLimitError
from asyncgen.llm import wire
from asyncgen.llm.budget import BudgetFactory
from asyncgen.llm.errors import MalformedAnswerError, QuotaExhaustedError
from asyncgen.llm.headers import RateLimitInfo, limit_headers, parse_rate_limit_headers
from asyncgen.llm.limiter import RateLimiter
from asyncgen.llm.pool import ModelPool
from asyncgen.llm.refusal import limits_in_refusal
from asyncgen.llm.retry import (
    OVERLOAD_STATUS,
    RetryPolicy,
    calculate_retry_timeout,
    failure_cause,
    should_retry,
)
from asyncgen.llm.routing import Route, Router
from asyncgen.llm.stats import StatsSnapshot, TransportStats
from asyncgen.llm.types import (
    ChatRequest,
    ChatResult,
    LedgerCharges,
    LedgerFlush,
    LiveCount,
    ModelHandle,
    Progress,
)
from asyncgen.llm.usage import Charge, UsageMeter

if TYPE_CHECKING:
    import httpx

    from asyncgen.llm.stream import StreamResult

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

logger = logging.getLogger(__name__)


@dataclass
class _Attempt:
    """What one HTTP exchange told the limiter, whether it succeeded or not."""

    outcome: str = "cancelled"
    used_tokens: int | None = None
    used_prompt: int | None = None
    info: RateLimitInfo | None = None
    retry_after: float | None = None


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
        budget_for: BudgetFactory | None = None,
    ) -> None:
        self.settings = settings
        self._limits = settings.limits if use_limiter else _unlimited(settings.limits)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random(0)
        self.policy = RetryPolicy.from_settings(settings.retry, max_retries)
        self.pool = ModelPool(settings)
        self.usage = UsageMeter(
            settings.prices, max_cost=settings.max_cost, max_tokens=settings.max_tokens
        )
        self.stats = TransportStats(clock, extra=self._extra_snapshot)
        self._router = Router(
            settings,
            self._limits,
            api_key=api_key,
            override_url=base_url,
            slots=asyncio.Semaphore(self._limits.concurrency),
            clock=clock,
            sleep=sleep,
            http_transport=http_transport,
            budget_for=budget_for,
        )
        self._default_handle = ModelHandle(provider=settings.provider, model=settings.model)
        self.stop_reason: str | None = None
        self._settled = asyncio.Event()  # set (and replaced) whenever a request ends

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
            **kwargs: `http_transport`, `clock`, `sleep`, `rng` (tests); `budget_for`: a
                `BudgetFactory` giving limiters a rate budget shared beyond this process.

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

    async def __aenter__(self) -> Transport:
        from asyncgen.tokens import load_encoder

        await self._router.warm()
        await load_encoder()  # usage estimates count tokens on the loop
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
        await self._router.aclose()

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
            LLMError: a subclass naming the cause, once retries are spent, or at once for
                errors retrying cannot fix (400/401/403/404, context length).
        """
        return await self._call(request, handle, streaming=request.stream)

    async def chat_stream(
        self, request: ChatRequest, handle: ModelHandle | None = None
    ) -> StreamResult:
        """Like `chat` with ``stream: true``; also times the first token and the gaps after it."""
        from asyncgen.llm.stream import StreamResult  # loaded by the first stream (see _send)

        result = await self._call(replace(request, stream=True), handle, streaming=True)
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
        """True once `llm.max_cost` or `llm.max_tokens` is spent, or the provider said the
        account is out of quota (`stop_reason`): start no new work."""
        return self.stop_reason is not None or self.usage.budget_exhausted

    def projected_cost(self, done: int, target: int) -> float:
        """USD for `target` items at the average cost of the `done` ones so far."""
        return self.usage.projected_cost(done, target)

    def attach_run(self, live: LiveCount, progress: Progress | None = None) -> None:
        """Online calls go out at once: nothing waits on the run's progress."""

    def link_ledger(self, charges: LedgerCharges, flush: LedgerFlush | None = None) -> None:
        """Online charges are never replayed, so nothing needs the ledger's counts."""

    async def settle(self) -> None:
        """An online answer is charged before `chat` returns: nothing is left under way."""

    def limiter_for(self, handle: ModelHandle | None = None) -> RateLimiter:
        """The limiter that governs `handle`'s model (default: the configured model)."""
        return self._router.route(handle or self._default_handle).limiter

    # -- one call: retries around attempts ---------------------------------------------

    async def _call(
        self, request: ChatRequest, handle: ModelHandle | None, *, streaming: bool
    ) -> ChatResult:
        handle = handle or self._default_handle
        route = await self._router.route_async(handle)
        payload = wire.encode(wire.build_body(request, handle))
        reserved = await self._admit(request, handle, len(payload))
        try:
            return await self._retried(request, handle, route, payload, streaming)
        finally:
            if reserved is not None:
                self.usage.settle(*reserved)
                self._settled.set()
                self._settled = asyncio.Event()

    async def _admit(
        self, request: ChatRequest, handle: ModelHandle, size: int
    ) -> tuple[float, int] | None:
        """Reserve the request's projected spend against --max-cost/--max-tokens.

        Near the budget a request waits for those in flight to settle (their real cost
        may leave room); it is refused only when nothing is in flight and it still does
        not fit. The overshoot is then what in-flight requests cost beyond projection.

        Returns:
            The reservation to settle, None when no budget applies.

        Raises:
            BudgetExceededError: starting it would pass the budget (nothing is sent).
        """
        if not self.usage.has_budget:
            return None
        completion = request.max_tokens or self._limits.completion_estimate
        # ~4 bytes of JSON body per prompt token: no tokenizer on the hot path
        cost, tokens = self.usage.projected_request(
            handle.model, request.kind, size // 4, completion
        )
        while not self.usage.fits(cost, tokens):
            if self.usage.refused or not self.usage.in_flight:
                raise self.usage.refuse(cost, tokens)
            await self._settled.wait()
        self.usage.reserve(cost, tokens)
        return cost, tokens

    async def _retried(
        self,
        request: ChatRequest,
        handle: ModelHandle,
        route: Route,
        payload: bytes,
        streaming: bool,
    ) -> ChatResult:
        self.stats.requests += 1
        attempt = failures = refusals = 0
        first_refusal: float | None = None
        while True:
            attempt += 1
            try:
                result = await self._attempt(route, request, payload, streaming, attempt > 1)
            except LLMError as exc:
                if isinstance(exc, RateLimitError):
                    refusals += 1
                    first_refusal = first_refusal or self._clock()
                    waited = self._clock() - first_refusal
                    delay = self._after_429(exc, attempt, refusals, waited)
                else:
                    failures += 1
                    delay = self._after_failure(exc, attempt, failures, route.limiter.faults.value)
                self._bill_failure(exc, request, handle, final=delay is None)
                if delay is None:
                    raise
                if delay > 0:
                    await self._sleep(delay)
                continue
            except QuotaExhaustedError as exc:
                self._stop(exc, attempt)
                raise
            return self._finish(result, handle, attempt, request)

    def _bill_failure(
        self, exc: LLMError, request: ChatRequest, handle: ModelHandle, *, final: bool
    ) -> None:
        """A failed attempt for the ledger: billed when its answer arrived, else 0 tokens.

        An unreadable 200 body was answered (and billed) but its usage is lost: its prompt
        is counted here, marked estimated.
        """
        cause = failure_cause(exc)
        usage = getattr(exc, "usage", None)
        if usage is None and isinstance(exc, MalformedAnswerError) and exc.raw is not None:
            from asyncgen.tokens import count_message_tokens

            usage = (count_message_tokens(request.messages), 0, 0)
            estimated = True
        else:
            estimated = False
        if usage is not None:
            tokens_in, tokens_out, cached = usage
            self.usage.add(
                handle.model,
                tokens_in,
                tokens_out,
                cached=cached,
                kind=request.kind,
                outcome=cause,
                final=final,
                estimated=estimated,
            )
        elif self.usage.listeners:
            self.usage.notify(Charge(handle.model, request.kind, cause, final))

    def _stop(self, exc: QuotaExhaustedError, attempt: int) -> None:
        """The account cannot be served: no new work; say once what to do."""
        exc.request = {**exc.request, "attempts": attempt}
        if self.stop_reason is None:
            self.stop_reason = str(exc)  # the engine stops and shows it
        self.stats.failures["quota"] += 1
        self.stats.record_done()

    def _after_429(
        self, exc: RateLimitError, attempt: int, refusals: int, waited: float
    ) -> float | None:
        """Backoff after a 429, or None once the request has waited out `rate_limit_patience`."""
        exc.request = {**exc.request, "attempts": attempt, "request_id": exc.request_id}
        if waited >= self.policy.rate_limit_patience or self.policy.max_retries == 0:
            self.stats.failures["rate_limited"] += 1
            self.stats.record_done()
            return None
        self.stats.retries["rate_limited"] += 1
        return calculate_retry_timeout(
            refusals, self.policy, self._rng, exc.retry_after, rate_limited=True
        )

    def _after_failure(
        self, exc: LLMError, attempt: int, failures: int, fault_share: float
    ) -> float | None:
        """Count the failure; the backoff before the next attempt, or None to give up."""
        cause = failure_cause(exc)
        request_id = exc.request_id if isinstance(exc, LLMStatusError) else None
        exc.request = {
            **exc.request,
            "attempts": attempt,
            "request_id": request_id or exc.request.get("request_id"),
        }
        if failures > self.policy.max_retries or not should_retry(exc, self.policy):
            self.stats.failures[cause] += 1
            self.stats.record_done()
            return None
        self.stats.retries[cause] += 1
        return calculate_retry_timeout(failures, self.policy, self._rng, None, fault_share)

    def _finish(
        self, result: ChatResult, handle: ModelHandle, attempt: int, request: ChatRequest
    ) -> ChatResult:
        result.attempts = attempt
        result.provider = handle.provider
        if result.usage_estimated:
            _estimate_usage(result, request)
        self.usage.add(
            handle.model,
            result.prompt_tokens,
            result.completion_tokens,
            cached=result.cached_tokens,
            kind=request.kind,
            estimated=result.usage_estimated,
        )
        self.stats.successes += 1
        self.stats.record_done()
        return result

    async def _attempt(
        self, route: Route, request: ChatRequest, payload: bytes, streaming: bool, retry: bool
    ) -> ChatResult:
        """One HTTP exchange inside the limiter; the permit is released whatever happens."""
        limiter = route.limiter
        estimate = self._estimate(request) if limiter.needs_token_estimate else (0, 0)
        permit = await limiter.acquire(*estimate, urgent=retry)
        self.stats.attempts += 1
        self.stats.in_flight += 1
        started = self._clock()
        att = _Attempt()
        try:
            result = await self._exchange(route, request, payload, streaming, started, att)
            att.outcome = "ok"
            if result.usage_estimated:
                _estimate_usage(result, request)
            att.used_tokens = result.prompt_tokens + result.completion_tokens
            att.used_prompt = result.prompt_tokens
            self.stats.record_latency(result.latency)
            return result
        except LLMError as exc:
            att.outcome, att.retry_after = _outcome_of(exc)
            if isinstance(exc, RateLimitError):
                self.stats.rate_limited += 1
                if att.info is None or att.info.is_empty:  # no limit header: the body's words
                    sent_at = time.time() - (self._clock() - started)
                    att.info = limits_in_refusal(exc.body, sent_at) or att.info
            raise
        finally:
            self.stats.in_flight -= 1
            limiter.release(
                permit,
                outcome=att.outcome,
                latency=self._clock() - started,
                used_tokens=att.used_tokens,
                info=att.info,
                retry_after=att.retry_after,
                used_prompt_tokens=att.used_prompt,
            )

    async def _exchange(
        self,
        route: Route,
        request: ChatRequest,
        payload: bytes,
        streaming: bool,
        started: float,
        att: _Attempt,
    ) -> ChatResult:
        """POST and parse; every lower-layer exception becomes an `LLMError` here."""
        endpoint, info = route.endpoint, route.info
        connection = self._router.connection(endpoint)
        try:
            if connection.native and not streaming:  # its own timer bounds the whole answer
                response = await connection.post(payload, request.kind)
            else:
                async with asyncio.timeout(self.settings.timeouts.read):
                    if streaming:
                        # the SSE reader loads with the first stream: a run of whole
                        # answers (`complete`) starts without it (~2-3 ms of CPU)
                        from asyncgen.llm.stream import read_stream

                        result, att.info = await read_stream(
                            connection,
                            payload,
                            request,
                            info,
                            self._clock,
                            started,
                            endpoint.key_env,
                        )
                        return result
                    response = await connection.post(payload, request.kind)
        except wire.transport_exceptions() as exc:
            raise wire.transport_error(exc, info=info) from exc
        att.info = parse_rate_limit_headers(limit_headers(response.headers.raw))
        if response.status_code >= 300:
            raise wire.status_error(response, info=info, key_env=endpoint.key_env)
        try:
            completion = wire.parse_completion(
                response.content,
                require_complete=request.require_complete,
                info=info,
                wants_tools=_wants_tools(request),
            )
        except LLMError as exc:
            exc.request = {**exc.request, "request_id": response.headers.get("x-request-id")}
            raise
        return _result(completion, route, self._clock() - started)

    def _estimate(self, request: ChatRequest) -> tuple[int, int]:
        """Prompt tokens (counted) and answer tokens (max_tokens, or the configured estimate)."""
        from asyncgen.tokens import count_message_tokens

        completion = request.max_tokens or self._limits.completion_estimate
        return count_message_tokens(request.messages), completion

    # -- counters --------------------------------------------------------------------

    def _extra_snapshot(self) -> StatsSnapshot:
        routes = list(self._router.routes())
        limiter = self._router.default.limiters.get(self.settings.model)
        if limiter is None and routes:
            limiter = routes[0].limiter
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
            "limiters": {r.limiter.name: r.limiter.snapshot() for r in routes},
        }


def _outcome_of(exc: LLMError) -> tuple[str, float | None]:
    """The limiter's view of a failure: rate limited (with advice), overloaded, or other."""
    if isinstance(exc, RateLimitError):
        return "rate_limited", exc.retry_after
    if isinstance(exc, LLMStatusError) and exc.status_code in OVERLOAD_STATUS:
        return "overloaded", None
    return failure_cause(exc), None


def _wants_tools(request: ChatRequest) -> bool:
    body = request.body if request.body is not None else request.extra_body
    return bool(body.get("tools") or body.get("functions"))


def _estimate_usage(result: ChatResult, request: ChatRequest) -> None:
    """Token counts for an answer that carried no `usage` (pacing and budgets need them)."""
    if result.prompt_tokens or result.completion_tokens:
        return
    from asyncgen.tokens import count_message_tokens, count_tokens

    result.prompt_tokens = count_message_tokens(request.messages)
    result.completion_tokens = count_tokens(result.content)


def _result(completion: wire.Completion, route: Route, latency: float) -> ChatResult:
    return ChatResult(
        content=completion.content,
        model=completion.model or route.info.get("model") or "",
        provider=route.endpoint.provider,
        finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency=latency,
        request_id=completion.request_id,
        raw=completion.raw,
        cached_tokens=completion.cached_tokens,
        usage_estimated=not completion.has_usage,
    )


def _unlimited(limits: LimitSettings) -> LimitSettings:
    return limits.model_copy(
        update={
            "rpm": None,
            "tpm": None,
            "adaptive": False,
            "learn_from_headers": False,
            "pause_on_429": False,
        }
    )
