"""Each outcome class a careful client tells apart: what is retried, what ends at once, what stops.

Answers come from `httpx.MockTransport` handlers shaped as the providers document them.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from asyncgen.config import LLMSettings
from asyncgen.errors import LLMError, RateLimitError, ServerError
from asyncgen.llm import ChatRequest, Transport, set_testing
from asyncgen.llm.errors import (
    ContentFilterError,
    LimitExhaustedError,
    ProviderError,
    QuotaExhaustedError,
    RefusalError,
    StreamCutError,
    ToolCallsError,
)

REQUEST = ChatRequest(messages=[{"role": "user", "content": "hello there"}], max_tokens=20)


@pytest.fixture(autouse=True)
def _instant_backoff() -> Any:
    set_testing(True)
    yield
    set_testing(False)


def answer(message: dict[str, Any] | None = None, finish: str = "stop", **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "model": "m1",
        "choices": [
            {
                "index": 0,
                "message": message or {"role": "assistant", "content": "fine"},
                "finish_reason": finish,
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2},
    }
    body.update(extra)
    return orjson.dumps(body)


class Script:
    """A handler answering with each response in turn, then the last one forever."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = responses
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return self.responses[min(self.calls, len(self.responses)) - 1]


def transport(handler: Script, **retry: Any) -> Transport:
    settings = LLMSettings.model_validate(
        {"provider": "compatible", "model": "m1", "retry": {"max_retries": 6, **retry}}
    )
    return Transport.from_settings(
        settings, api_key="sk-test", http_transport=httpx.MockTransport(handler)
    )


def ok() -> httpx.Response:
    return httpx.Response(200, content=answer(), headers={"x-request-id": "req-ok"})


def quota_429() -> httpx.Response:
    return httpx.Response(
        429,
        json={
            "error": {
                "message": "You exceeded your current quota, please check your plan and billing.",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
        },
    )


async def test_insufficient_quota_is_never_retried_and_stops_new_work() -> None:
    """429 insufficient_quota: one attempt, a message saying what to do, no new work."""
    script = Script(quota_429())
    async with transport(script) as client:
        with pytest.raises(QuotaExhaustedError) as info:
            await client.chat(REQUEST)
        assert client.budget_exhausted and client.stop_reason
    assert script.calls == 1
    assert "add credit" in str(info.value) and "rerun" in str(info.value)
    assert not isinstance(info.value, LLMError)  # pipelines let it through to the engine


async def test_payment_required_is_a_quota_stop() -> None:
    """402 (OpenRouter: insufficient credits) stops like insufficient_quota."""
    script = Script(httpx.Response(402, json={"error": {"message": "Insufficient credits"}}))
    async with transport(script) as client:
        with pytest.raises(QuotaExhaustedError):
            await client.chat(REQUEST)
    assert script.calls == 1


async def test_spent_daily_limit_stops_instead_of_waiting_hours() -> None:
    """A 429 whose retry-after is hours away (a daily budget) stops the run at once."""
    script = Script(
        httpx.Response(429, json={"error": {"message": "RPD"}}, headers={"retry-after": "7200"})
    )
    async with transport(script) as client:
        with pytest.raises(LimitExhaustedError):
            await client.chat(REQUEST)
    assert script.calls == 1


@pytest.mark.parametrize("status", [408, 502, 520, 522, 524, 529])
async def test_transient_statuses_are_retried(status: int) -> None:
    """408, 502, Cloudflare's 520/522/524 and Anthropic's 529 clear by waiting."""
    script = Script(httpx.Response(status, text="busy"), ok())
    async with transport(script) as client:
        result = await client.chat(REQUEST)
    assert result.content == "fine" and result.attempts == 2


async def test_html_error_page_gives_status_and_title_only() -> None:
    """A Cloudflare HTML page never goes into the reason: status and page title only."""
    page = (
        "<!DOCTYPE html><html><head><title>example.com | 524: A timeout occurred</title>"
        "<style>body{}</style></head><body>" + "x" * 5000 + "</body></html>"
    )
    script = Script(httpx.Response(524, text=page, headers={"content-type": "text/html"}))
    async with transport(script, max_retries=1) as client:
        with pytest.raises(ServerError) as info:
            await client.chat(REQUEST)
    message = str(info.value)
    assert "524" in message and "A timeout occurred" in message
    assert "<" not in message and "xxxx" not in message
    assert info.value.request["attempts"] == 2


@pytest.mark.parametrize(
    ("message", "finish", "error"),
    [
        ({"role": "assistant", "content": None}, "content_filter", ContentFilterError),
        ({"role": "assistant", "content": "partial"}, "content_filter", ContentFilterError),
        ({"role": "assistant", "content": None, "refusal": "I can't help."}, "stop", RefusalError),
        (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c1", "type": "function"}],
            },
            "tool_calls",
            ToolCallsError,
        ),
    ],
)
async def test_rejected_answers_end_at_once_with_the_reason(
    message: dict[str, Any], finish: str, error: type[Exception]
) -> None:
    """content_filter, refusal and unasked-for tool_calls end on the first attempt."""
    script = Script(httpx.Response(200, content=answer(message, finish)))
    async with transport(script) as client:
        with pytest.raises(error) as info:
            await client.chat(REQUEST)
    assert script.calls == 1
    if "refusal" in message:
        assert "I can't help." in str(info.value)


async def test_tool_calls_are_an_answer_when_tools_were_offered() -> None:
    """A request that offers tools gets its tool_calls answer back."""
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    message = {"role": "assistant", "content": None, "tool_calls": calls}
    script = Script(httpx.Response(200, content=answer(message, "tool_calls")))
    request = ChatRequest(
        messages=REQUEST.messages,
        body={"messages": REQUEST.messages, "tools": [{"type": "function"}]},
    )
    async with transport(script) as client:
        result = await client.chat(request)
    assert result.raw is not None and result.raw["choices"][0]["message"]["tool_calls"] == calls


async def test_http_200_with_an_error_body_is_a_failure_not_a_record() -> None:
    """OpenRouter's 200 + {"error": …}: a ProviderError carrying the provider's message."""
    body = {"error": {"code": 400, "message": "Provider returned error: bad model"}}
    script = Script(httpx.Response(200, json=body))
    async with transport(script) as client:
        with pytest.raises(ProviderError) as info:
            await client.chat(REQUEST)
    assert script.calls == 1 and "bad model" in str(info.value)


def sse(*events: str) -> bytes:
    return "".join(f"{e}\n\n" for e in events).encode()


def chunk(content: str | None = None, finish: str | None = None, **extra: Any) -> str:
    delta = {} if content is None else {"content": content}
    body = {
        "id": "c",
        "model": "m1",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    body.update(extra)
    return "data: " + orjson.dumps(body).decode()


STREAM_HEADERS = {"content-type": "text/event-stream"}


@pytest.mark.parametrize(
    "events",
    [
        (chunk("Hel"), chunk("lo")),  # cut before [DONE]
        (chunk("Hel"), 'data: {"error": {"message": "upstream died"}}', "data: [DONE]"),
        (chunk("Hel"), chunk(None, "error"), "data: [DONE]"),  # OpenRouter
        (
            chunk("Hel"),
            "event: error",
            'data: {"type": "error", "error": {"message": "overloaded"}}',
        ),
    ],
)
async def test_broken_streams_are_retried_never_answers(events: tuple[str, ...]) -> None:
    """A stream that errors mid-way or ends before [DONE] is retried; the good one is the answer."""
    good = sse(chunk("Hello"), chunk(None, "stop"), "data: [DONE]")
    script = Script(
        httpx.Response(200, content=sse(*events), headers=STREAM_HEADERS),
        httpx.Response(200, content=good, headers=STREAM_HEADERS),
    )
    async with transport(script) as client:
        result = await client.chat_stream(REQUEST)
    assert result.content == "Hello" and result.attempts == 2


async def test_stream_cut_on_every_attempt_fails_as_stream_cut() -> None:
    script = Script(httpx.Response(200, content=sse(chunk("Hel")), headers=STREAM_HEADERS))
    async with transport(script, max_retries=2) as client:
        with pytest.raises(StreamCutError):
            await client.chat_stream(REQUEST)
        assert client.stats.failures["stream_cut"] == 1
    assert script.calls == 3


async def test_answer_without_usage_is_counted_with_an_estimate() -> None:
    """No `usage`: tokens are estimated so pacing and --max-tokens budgets still hold."""
    body = orjson.loads(answer({"role": "assistant", "content": "a fairly long answer " * 10}))
    del body["usage"]
    script = Script(httpx.Response(200, json=body))
    settings = LLMSettings.model_validate(
        {"provider": "compatible", "model": "m1", "max_tokens": 50}
    )
    client = Transport.from_settings(
        settings, api_key="k", http_transport=httpx.MockTransport(script)
    )
    async with client:
        result = await client.chat(REQUEST)
        assert result.usage_estimated and result.prompt_tokens > 0 and result.completion_tokens > 30
        assert client.usage.tokens_out == result.completion_tokens
        assert client.budget_exhausted


async def test_429_without_advice_backs_off_growing_and_keeps_trying_for_minutes() -> None:
    """Hint-less 429s: waits double with jitter; the request retries past max_retries."""
    set_testing(False)
    waits: list[float] = []
    now = [0.0]

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds
        if seconds > 0.05:  # backoffs, not the limiter's pacing
            waits.append(seconds)

    refused = httpx.Response(429, json={"error": {"message": "slow down"}})
    script = Script(*([refused] * 9), ok())
    settings = LLMSettings.model_validate(
        {"provider": "compatible", "model": "m1", "retry": {"max_retries": 2}}
    )
    client = Transport.from_settings(
        settings,
        api_key="k",
        http_transport=httpx.MockTransport(script),
        sleep=fake_sleep,
        clock=lambda: now[0],
    )
    async with client:
        result = await client.chat(REQUEST)
    assert result.attempts == 10
    assert waits[0] < 0.6 and max(waits) >= 30 * 0.5  # 0.25-0.5 s growing to the 30 s cap
    assert now[0] > 60  # a minute of patience already, where six quick retries gave ~9 s


@pytest.mark.parametrize(
    ("headers", "message", "expected"),
    [
        ({"retry-after-ms": "120"}, "x", 0.12),
        ({"retry-after": "2"}, "x", 2.0),
        ({"llm_provider-retry-after": "3"}, "x", 3.0),
        ({}, "Rate limit reached for gpt-4o-mini. Please try again in 20ms. Visit ...", 0.02),
        ({}, "Please try again in 1.5s.", 1.5),
    ],
)
async def test_retry_advice_from_every_place_it_comes(
    headers: dict[str, str], message: str, expected: float
) -> None:
    script = Script(httpx.Response(429, json={"error": {"message": message}}, headers=headers))
    async with transport(script, max_retries=0) as client:
        with pytest.raises(RateLimitError) as info:
            await client.chat(REQUEST)
    assert info.value.retry_after == pytest.approx(expected)


async def test_failure_carries_true_attempts_and_last_request_id() -> None:
    responses = [
        httpx.Response(500, text="boom", headers={"x-request-id": f"req-{i}"}) for i in range(3)
    ]
    script = Script(*responses)
    async with transport(script, max_retries=2) as client:
        with pytest.raises(ServerError) as info:
            await client.chat(REQUEST)
    assert info.value.request["attempts"] == 3
    assert info.value.request["request_id"] == "req-2"
