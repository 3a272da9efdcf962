"""Transport behaviour over httpx.MockTransport: retry classes, fail-fast errors, headers, usage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from asyncgen.config import LLMSettings
from asyncgen.errors import (
    BudgetExceededError,
    LLMConnectionError,
    LLMStatusError,
    LLMTimeoutError,
    RateLimitError,
    ServerError,
)
from asyncgen.llm import (
    AuthenticationError,
    ChatRequest,
    ContextLengthError,
    ModelHandle,
    Transport,
    TruncatedAnswerError,
    set_testing,
)

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def completion(
    content: str = "hello", finish: str = "stop", prompt: int = 10, out: int = 5, **headers: str
) -> httpx.Response:
    """A 200 chat-completions answer."""
    body = {
        "id": "chatcmpl-1",
        "model": "m1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out},
    }
    return httpx.Response(
        200, json=body, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


def settings(**overrides: Any) -> LLMSettings:
    base: dict[str, Any] = {
        "provider": "compatible",
        "base_url": "http://llm.test/v1",
        "model": "m1",
    }
    base.update(overrides)
    return LLMSettings.model_validate(base)


def make(handler: Handler, **overrides: Any) -> Transport:
    retries = overrides.pop("max_retries", None)
    return Transport.from_settings(
        settings(**overrides),
        api_key="sk-test",
        max_retries=retries,
        http_transport=httpx.MockTransport(handler),
    )


def sequence(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering with each response in turn (exceptions are raised)."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


REQUEST = ChatRequest(messages=[{"role": "user", "content": "hi"}], kind="unit_test", max_tokens=50)


@pytest.mark.parametrize(
    ("first", "cause"),
    [
        (
            httpx.Response(
                429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "1"}
            ),
            "rate_limited",
        ),
        (httpx.Response(500, text="boom"), "http_500"),
        (httpx.Response(502, text="bad gateway"), "http_502"),
        (httpx.Response(503, text="overloaded"), "http_503"),
        (httpx.Response(504, text="gateway timeout"), "http_504"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.ConnectError("refused"), "connection"),
        (httpx.RemoteProtocolError("peer closed"), "connection"),
        (httpx.Response(200, content=b"{not json"), "malformed"),
        (httpx.Response(200, json={"choices": []}), "malformed"),
        (completion(content=""), "empty"),
    ],
)
async def test_each_retry_class_is_retried(first: httpx.Response | Exception, cause: str) -> None:
    """A transient failure is retried; the second answer is returned and the cause counted."""
    handler, seen = sequence(first, completion())
    async with make(handler) as transport:
        result = await transport.chat(REQUEST)
        snap = transport.stats.snapshot()
    assert result.content == "hello" and result.attempts == 2 and len(seen) == 2
    assert snap["retries"] == {cause: 1} and snap["successes"] == 1 and snap["failures"] == {}


async def test_length_retried_only_when_complete_answer_required() -> None:
    """finish_reason=length is retried for require_complete requests and accepted otherwise."""
    cut = completion(content="cut", finish="length")
    handler, seen = sequence(cut, cut, completion())
    async with make(handler) as transport:
        loose = await transport.chat(REQUEST)
        strict = await transport.chat(ChatRequest(messages=REQUEST.messages, require_complete=True))
    assert loose.finish_reason == "length" and loose.content == "cut"
    assert strict.content == "hello" and strict.attempts == 2
    assert transport.stats.retries == {"length": 1}


async def test_retries_exhausted_raise_the_last_error() -> None:
    """After max_retries the last cause is raised with its attempt count and counted as failure."""
    handler, seen = sequence(httpx.Response(500, text="boom"))
    async with make(handler, max_retries=2) as transport:
        with pytest.raises(ServerError) as info:
            await transport.chat(REQUEST)
    assert len(seen) == 3 and info.value.request["attempts"] == 3
    assert transport.stats.failures == {"http_500": 1} and transport.stats.retries == {
        "http_500": 2
    }


async def test_truncated_answer_fails_when_retries_spent() -> None:
    """A required-complete answer that keeps being cut ends as TruncatedAnswerError."""
    handler, _ = sequence(completion(finish="length"))
    async with make(handler, max_retries=1) as transport:
        with pytest.raises(TruncatedAnswerError):
            await transport.chat(ChatRequest(messages=REQUEST.messages, require_complete=True))


@pytest.mark.parametrize(
    ("response", "error", "phrase"),
    [
        (
            httpx.Response(400, json={"error": {"message": "temperature must be <= 2"}}),
            LLMStatusError,
            "temperature",
        ),
        (
            httpx.Response(401, json={"error": {"message": "bad key"}}),
            AuthenticationError,
            "OPENROUTER_API_KEY",
        ),
        (
            httpx.Response(403, json={"error": {"message": "no access"}}),
            AuthenticationError,
            "OPENROUTER_API_KEY",
        ),
        (
            httpx.Response(404, json={"error": {"message": "no such model"}}),
            LLMStatusError,
            "--model",
        ),
        (
            httpx.Response(
                400,
                json={
                    "error": {
                        "message": "maximum context length is 8192",
                        "code": "context_length_exceeded",
                    }
                },
            ),
            ContextLengthError,
            "shorten the prompt",
        ),
    ],
)
async def test_caller_errors_fail_at_once_saying_what_to_fix(
    response: httpx.Response, error: type[Exception], phrase: str
) -> None:
    """400/401/403/404/context-length are not retried and the message names the fix."""
    handler, seen = sequence(response)
    async with make(handler, provider="openrouter") as transport:
        with pytest.raises(error) as info:
            await transport.chat(REQUEST)
    assert len(seen) == 1 and phrase in str(info.value)
    assert "sk-test" not in str(info.value)


async def test_wire_format_kind_header_and_handle_sampling() -> None:
    """Chat-completions body; kind in X-Asyncgen-Kind; the handle fills unset sampling values."""
    handler, seen = sequence(completion())
    handle = ModelHandle(
        provider="compatible", model="m2", temperature=0.9, top_p=0.8, presence_penalty=0.2
    )
    request = ChatRequest(messages=REQUEST.messages, kind="scenario", temperature=0.1, max_tokens=7)
    async with make(handler) as transport:
        await transport.chat(request, handle)
    sent = seen[0]
    body = orjson.loads(sent.content)
    assert str(sent.url) == "http://llm.test/v1/chat/completions"
    assert (
        sent.headers["X-Asyncgen-Kind"] == "scenario"
        and sent.headers["authorization"] == "Bearer sk-test"
    )
    assert body["model"] == "m2" and body["max_tokens"] == 7
    assert body["temperature"] == 0.1 and body["top_p"] == 0.8 and body["presence_penalty"] == 0.2
    assert "frequency_penalty" not in body


async def test_rate_limit_headers_are_learned() -> None:
    """x-ratelimit-* headers set the limiter's RPM/TPM even when none were configured."""
    handler, _ = sequence(
        completion(
            x_ratelimit_limit_requests="600",
            x_ratelimit_limit_tokens="90000",
            x_ratelimit_remaining_requests="599",
            x_ratelimit_reset_requests="100ms",
        )
    )
    async with make(handler) as transport:
        assert transport.stats.snapshot()["rpm_limit"] is None
        await transport.chat(REQUEST)
        snap = transport.stats.snapshot()
    assert snap["rpm_limit"] == 600 and snap["tpm_limit"] == 90000


async def test_configured_limit_wins_when_tighter() -> None:
    """A configured RPM below the advertised one is kept (whichever is tighter)."""
    handler, _ = sequence(completion(x_ratelimit_limit_requests="6000"))
    async with make(handler, limits={"rpm": 120}) as transport:
        await transport.chat(REQUEST)
        assert transport.stats.snapshot()["rpm_limit"] == 120


async def test_a_429_holds_only_the_refused_request() -> None:
    """After one 429 with retry-after-ms=1000 the refused request waits its advice; another
    request goes at once (one refusal at a rolling window's edge is no closed window).

    Requests are told apart by their text and the other starts once the refusal is in, with
    a margin of half the advice: the test read send order and a 0.1 s bound, and in a cold
    process both were sent before the 429 came back.
    """
    sent: dict[str, list[float]] = {"refused": [], "other": []}
    refused = asyncio.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        text = orjson.loads(request.content)["messages"][0]["content"]
        sent[text].append(time.monotonic())
        if text == "refused" and len(sent[text]) == 1:
            refused.set()
            return httpx.Response(
                429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "1000"}
            )
        return completion()

    def ask(text: str) -> ChatRequest:
        return ChatRequest(messages=[{"role": "user", "content": text}], kind="unit_test")

    limits = {"concurrency": 1, "resume_ramp_seconds": 0}
    with set_testing(False):  # the advice is what is under test: real backoff
        async with make(handler, limits=limits) as transport:
            first = asyncio.create_task(transport.chat(ask("refused")))
            await asyncio.wait_for(refused.wait(), timeout=10)
            await asyncio.sleep(0.05)  # the transport takes the 429 in (it only waits longer)
            other = asyncio.create_task(transport.chat(ask("other")))
            await asyncio.gather(first, other)
    assert sent["other"][0] - sent["refused"][0] < 0.5  # the other request did not wait
    assert sent["refused"][1] - sent["refused"][0] >= 0.95  # the refused one waited its advice
    assert transport.stats.rate_limited == 1


async def _refused_at_the_start(refusals: int) -> tuple[float, list[float]]:
    """20 requests, 8 at a time, no limits and no limit headers; the first `refusals`
    requests are refused with retry-after-ms=1000. (seconds for all 20, send times)."""
    sends: list[float] = []
    start = time.monotonic()

    def handler(request: httpx.Request) -> httpx.Response:
        sends.append(time.monotonic() - start)
        if len(sends) <= refusals:
            return httpx.Response(
                429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "1000"}
            )
        return completion()

    limits = {"concurrency": 8, "resume_ramp_seconds": 0}
    with set_testing(False):  # the advice is what is under test: real backoff
        async with make(handler, limits=limits) as transport:
            chats = asyncio.gather(*(transport.chat(REQUEST) for _ in range(20)))
            await asyncio.wait_for(chats, timeout=10)
    assert transport.stats.rate_limited == refusals
    return time.monotonic() - start, sends


@pytest.mark.parametrize("refusals", [1, 2])
async def test_a_429_at_the_start_with_nothing_learned_costs_its_advice_not_minutes(
    refusals: int,
) -> None:
    """A stray 429 (or two) on a fresh transport (a key shared for a moment) taught a rate
    from one send and one refusal: 0.1 request/s, 20 requests took 107 s. It costs the
    refused request its 1 s advice; the others go on at once."""
    took, sends = await _refused_at_the_start(refusals)
    assert took < 3.0
    assert sum(1 for t in sends if t < sends[0] + 0.5) == 20  # all but the retries at once
    assert min(sends[20:]) - sends[0] >= 0.95  # the refused requests waited their advice


async def test_pacing_that_begins_while_tasks_hold_slots_never_deadlocks() -> None:
    """30 requests, 8 in flight, answers after 50 ms; two of the first 8 are refused: a
    rate is learned while tasks hold slots they took unpaced and others queue for the
    pacing lock. A slot holder waiting for the lock, and the lock's holder waiting for a
    slot, stopped every send for good (16 sent, then nothing)."""
    sends = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal sends
        sends += 1
        mine = sends
        await asyncio.sleep(0.05)
        if mine <= 2:
            return httpx.Response(
                429, json={"error": {"message": "slow"}}, headers={"retry-after-ms": "100"}
            )
        return completion()

    limits = {"concurrency": 8, "resume_ramp_seconds": 0}
    with set_testing(False):
        async with make(handler, limits=limits) as transport:
            chats = asyncio.gather(*(transport.chat(REQUEST) for _ in range(30)))
            await asyncio.wait_for(chats, timeout=15)
    assert sends == 32


async def test_tpm_reservation_is_refunded_from_usage() -> None:
    """A request reserves prompt estimate + max_tokens; the unused part is returned after usage."""
    handler, _ = sequence(completion(prompt=10, out=5))
    async with make(handler, limits={"tpm": 60_000, "burst_seconds": 1.0}) as transport:
        limiter = transport.limiter_for()
        bucket = limiter._buckets["tokens"]
        before = bucket.level
        permit = await limiter.acquire(20, 500)
        assert bucket.level == pytest.approx(before - 520, abs=5)
        limiter.release(permit, outcome="ok", used_tokens=15)
        assert bucket.level == pytest.approx(before - 15, abs=5)


async def test_connection_errors_become_llm_errors_with_cause() -> None:
    """Lower-layer exceptions surface only as asyncgen errors, chained to the original."""
    handler, _ = sequence(httpx.ConnectError("refused"))
    async with make(handler, max_retries=0) as transport:
        with pytest.raises(LLMConnectionError) as info:
            await transport.chat(REQUEST)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert not isinstance(info.value, LLMTimeoutError)


async def test_whole_answer_timeout() -> None:
    """An endpoint slower than timeouts.read ends as LLMTimeoutError."""

    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(1.0)
        return completion()

    transport = Transport.from_settings(
        settings(timeouts={"read": 0.05}),
        api_key=None,
        max_retries=0,
        http_transport=httpx.MockTransport(slow),
    )
    async with transport:
        with pytest.raises(LLMTimeoutError):
            await transport.chat(REQUEST)


async def test_usage_cost_and_budget() -> None:
    """Tokens and dollars add up per model; a request that would pass the budget is not sent."""
    handler, seen = sequence(completion(prompt=1000, out=1000))
    prices = {"m1": {"input": 1.0, "output": 2.0}}
    async with make(handler, prices=prices, max_cost=0.005) as transport:
        await transport.chat(REQUEST)
        assert not transport.budget_exhausted
        assert transport.projected_cost(1, 10) == pytest.approx(0.03)
        with pytest.raises(BudgetExceededError, match="--max-cost"):
            await transport.chat(REQUEST)  # $0.003 spent + ~$0.003 > $0.005
        snap = transport.stats.snapshot()
    assert transport.budget_exhausted and snap["budget_exhausted"] and len(seen) == 1
    assert (
        snap["cost_usd"] == pytest.approx(0.003)
        and snap["tokens_in"] == 1000
        and snap["tokens_out"] == 1000
    )


async def test_token_budget() -> None:
    """max_tokens counts prompt and completion tokens together."""
    handler, seen = sequence(completion(prompt=60, out=40))
    async with make(handler, max_tokens=150) as transport:
        await transport.chat(REQUEST)
        assert not transport.budget_exhausted
        with pytest.raises(BudgetExceededError, match="--max-tokens"):
            await transport.chat(REQUEST)
        assert transport.budget_exhausted and len(seen) == 1


async def test_requests_in_flight_count_against_the_budget() -> None:
    """Concurrent requests: those that would pass the budget with the ones in flight wait
    for them to settle, then are refused; the spend stays within the budget."""
    handler, seen = sequence(completion(prompt=1000, out=1000))  # $0.003 each
    prices = {"m1": {"input": 1.0, "output": 2.0}}
    async with make(handler, prices=prices, max_cost=0.01) as transport:
        await transport.chat(REQUEST)  # teaches the meter what a request costs
        outcomes = await asyncio.gather(
            *(transport.chat(REQUEST) for _ in range(8)), return_exceptions=True
        )
    refused = [o for o in outcomes if isinstance(o, BudgetExceededError)]
    assert len(seen) == 3 and len(refused) == 6
    assert transport.usage.cost_usd == pytest.approx(0.009)


async def test_rate_limit_error_carries_retry_after() -> None:
    """A 429 that is never lifted raises RateLimitError with the server's advice."""
    handler, _ = sequence(
        httpx.Response(429, json={"error": {"message": "x"}}, headers={"retry-after-ms": "5"})
    )
    async with make(handler, max_retries=0) as transport:
        with pytest.raises(RateLimitError) as info:
            await transport.chat(REQUEST)
    assert info.value.retry_after == pytest.approx(0.005)


def test_public_api_is_pinned() -> None:
    """asyncgen.llm re-exports a sorted public API, every name importable."""
    import asyncgen.llm as llm

    assert list(llm.__all__) == sorted(llm.__all__)
    assert all(hasattr(llm, name) for name in llm.__all__)
    assert {"Transport", "ChatRequest", "ChatResult", "ModelHandle", "set_testing"} <= set(
        llm.__all__
    )


def sse(*chunks: dict[str, Any], done: bool = True) -> bytes:
    lines = [b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks]
    return b"".join(lines) + (b"data: [DONE]\n\n" if done else b"")


async def test_stream_assembles_content_and_usage() -> None:
    """A streamed answer is joined from its deltas, with usage from the final chunk and timings."""
    body = sse(
        {"id": "s1", "model": "m1", "choices": [{"delta": {"role": "assistant"}}]},
        {"choices": [{"delta": {"content": "Hel"}}]},
        {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2}},
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    async with make(handler) as transport:
        result = await transport.chat_stream(REQUEST)
    assert result.content == "Hello" and result.finish_reason == "stop"
    assert (result.prompt_tokens, result.completion_tokens) == (4, 2)
    assert result.ttft is not None and len(result.itl) == 1 and result.request_id == "s1"
    sent = orjson.loads(seen[0].content)
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}


async def test_broken_stream_is_retried() -> None:
    """An unparseable event is a malformed answer: retried like any other."""
    good = sse({"choices": [{"delta": {"content": "ok"}, "finish_reason": "stop"}]})
    handler, seen = sequence(
        httpx.Response(200, content=b"data: {oops\n\n"), httpx.Response(200, content=good)
    )
    async with make(handler) as transport:
        result = await transport.chat_stream(REQUEST)
    assert result.content == "ok" and result.attempts == 2
    assert transport.stats.retries == {"malformed": 1}


async def test_snapshot_has_every_agreed_counter() -> None:
    """stats.snapshot() carries every key the engine, bench and progress display read."""
    handler, _ = sequence(completion())
    async with make(handler) as transport:
        await transport.chat(REQUEST)
        snap = transport.stats.snapshot()
    agreed = {
        "requests", "successes", "failures", "retries", "rate_limited", "in_flight",
        "latency_p50", "latency_p95", "tokens_in", "tokens_out", "cost_usd", "rpm_limit",
        "tpm_limit", "concurrency_limit", "model_mix", "requests_per_s",
    }  # fmt: skip
    assert agreed <= set(snap)
    assert orjson.loads(orjson.dumps(snap)) == snap  # JSON-ready for metrics.jsonl


async def test_backoff_is_short_for_a_sporadic_failure_and_grows_in_an_outage() -> None:
    """One unlucky request on a healthy endpoint retries at once, then at the first backoff
    step; when everything fails, backoff doubles per attempt (no hammering an outage)."""
    set_testing(False)
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    unlucky_attempts: list[float] = []

    def sporadic(request: httpx.Request) -> httpx.Response:
        if b"unlucky" in request.content and len(unlucky_attempts) < 3:
            unlucky_attempts.append(time.monotonic())
            return httpx.Response(500, json={"error": {"message": "boom"}})
        return completion()

    async with Transport.from_settings(
        settings(), api_key="sk-test", http_transport=httpx.MockTransport(sporadic), sleep=record
    ) as transport:
        for i in range(20):
            await transport.chat(ChatRequest(messages=[{"role": "user", "content": f"q{i}"}]))
        result = await transport.chat(
            ChatRequest(messages=[{"role": "user", "content": "unlucky"}])
        )
    # Three failures, three retries; the first at once (no sleep, as urllib3 does), the
    # other two at the first backoff step (backoff_initial 0.25, jitter 0.5).
    assert result.attempts == 4 and len(unlucky_attempts) == 3
    assert len(delays) == 2 and all(0.125 <= d <= 0.25 for d in delays)

    delays.clear()
    outage = httpx.MockTransport(lambda r: httpx.Response(503, json={"error": {"message": "down"}}))
    async with Transport.from_settings(
        settings(), api_key="sk-test", http_transport=outage, sleep=record, max_retries=5
    ) as transport:
        calls = [
            transport.chat(ChatRequest(messages=[{"role": "user", "content": f"q{i}"}]))
            for i in range(8)
        ]
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, LLMStatusError) for o in outcomes)
    assert max(delays) > 2.0  # 0.25 doubled per attempt: the fifth waits 2-4 s
