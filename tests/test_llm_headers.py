"""Parsing what endpoints say about limits and retry timing; retry classification."""

from __future__ import annotations

import random

import httpx
import pytest

from asyncgen.errors import (
    LLMConnectionError,
    LLMStatusError,
    LLMTimeoutError,
    RateLimitError,
    ServerError,
)
from asyncgen.llm import (
    ContextLengthError,
    EmptyAnswerError,
    MalformedAnswerError,
    RetryPolicy,
    TruncatedAnswerError,
    calculate_retry_timeout,
    failure_cause,
    parse_duration,
    parse_rate_limit_headers,
    parse_retry_after,
    should_retry,
)
from asyncgen.llm.retry import FaultRate, is_server_fault, is_testing, set_testing


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6m0s", 360.0),
        ("1s", 1.0),
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("1h2m3s", 3723.0),
        ("0.25", 0.25),
        ("7", 7.0),
    ],
)
def test_parse_duration_reads_openai_resets(text: str, seconds: float) -> None:
    """OpenAI's Go-style reset durations and plain seconds become seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "5x", "-3", "1s garbage"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    """Unreadable durations are None rather than a wrong number."""
    assert parse_duration(text) is None


def test_rate_limit_headers_all_six() -> None:
    """Limit, remaining and reset are read for both requests and tokens."""
    headers = httpx.Headers(
        {
            "x-ratelimit-limit-requests": "6000",
            "x-ratelimit-remaining-requests": "5990",
            "x-ratelimit-reset-requests": "100ms",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-tokens": "149000",
            "x-ratelimit-reset-tokens": "6m0s",
        }
    )
    info = parse_rate_limit_headers(headers)
    assert (info.limit_requests, info.remaining_requests, info.reset_requests) == (6000, 5990, 0.1)
    assert (info.limit_tokens, info.remaining_tokens, info.reset_tokens) == (150000, 149000, 360.0)


def test_rate_limit_headers_absent_is_empty() -> None:
    """A response without x-ratelimit headers teaches nothing."""
    assert parse_rate_limit_headers(httpx.Headers({"content-type": "application/json"})).is_empty


def test_retry_after_prefers_milliseconds() -> None:
    """retry-after-ms is more precise than retry-after and wins."""
    assert parse_retry_after(httpx.Headers({"retry-after": "2", "retry-after-ms": "1500"})) == 1.5


def test_retry_after_http_date() -> None:
    """An HTTP-date retry-after is converted relative to now."""
    headers = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"})
    assert parse_retry_after(headers, now=1445412500.0) == pytest.approx(10.0)


def test_retry_after_ignores_absurd_values() -> None:
    """A retry-after of an hour is ignored so one bad header cannot stall a run."""
    assert parse_retry_after(httpx.Headers({"retry-after": "3600"})) is None


def _status(cls: type[LLMStatusError], code: int) -> LLMStatusError:
    return cls("x", status_code=code)


@pytest.mark.parametrize(
    ("exc", "retry", "cause"),
    [
        (RateLimitError("x"), True, "rate_limited"),
        (_status(ServerError, 500), True, "http_500"),
        (_status(ServerError, 502), True, "http_502"),
        (_status(ServerError, 503), True, "http_503"),
        (_status(ServerError, 504), True, "http_504"),
        (LLMTimeoutError("x"), True, "timeout"),
        (LLMConnectionError("x"), True, "connection"),
        (MalformedAnswerError("x"), True, "malformed"),
        (EmptyAnswerError("x"), True, "empty"),
        (TruncatedAnswerError("x"), True, "length"),
        (_status(LLMStatusError, 400), False, "http_400"),
        (_status(LLMStatusError, 404), False, "http_404"),
        (_status(ContextLengthError, 400), False, "context_length"),
    ],
)
def test_should_retry_classifies(exc: Exception, retry: bool, cause: str) -> None:
    """Transient failures are retried, caller errors are not, and each has a stable cause name."""
    assert should_retry(exc, RetryPolicy()) is retry  # type: ignore[arg-type]
    assert failure_cause(exc) == cause


def test_length_retry_can_be_switched_off() -> None:
    """retry_on_length=False makes a truncated answer final."""
    assert not should_retry(TruncatedAnswerError("x"), RetryPolicy(retry_on_length=False))


def test_backoff_grows_and_is_capped() -> None:
    """Backoff doubles per attempt, stays within jitter, and never exceeds the maximum."""
    policy = RetryPolicy(initial=0.5, maximum=4.0, jitter=0.5)
    rng = random.Random(1)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delay = calculate_retry_timeout(attempt, policy, rng)
        assert base * 0.5 <= delay <= base


def test_backoff_honours_retry_after() -> None:
    """The server's retry-after is waited (plus a little jitter), not our own schedule."""
    delay = calculate_retry_timeout(1, RetryPolicy(), random.Random(0), retry_after=3.0)
    assert 3.0 <= delay <= 3.2


def test_testing_switch_makes_backoff_instant() -> None:
    """set_testing(True) turns every backoff into 0 and can be switched back."""
    set_testing(True)
    try:
        assert is_testing()
        assert calculate_retry_timeout(5, RetryPolicy(), random.Random(0), retry_after=2.0) == 0.0
    finally:
        set_testing(False)
    assert calculate_retry_timeout(1, RetryPolicy(), random.Random(0)) > 0


def test_aiohttp_disconnect_is_a_connection_error_not_a_timeout() -> None:
    """httpx-aiohttp maps a server disconnect to ConnectTimeout; we look through to the cause."""
    import aiohttp

    from asyncgen.llm.wire import transport_error

    try:
        try:
            raise aiohttp.ServerDisconnectedError()
        except aiohttp.ServerDisconnectedError as inner:
            raise httpx.ConnectTimeout("Server disconnected") from inner
    except httpx.ConnectTimeout as exc:
        error = transport_error(exc, info={"base_url": "http://x"})
    assert isinstance(error, LLMConnectionError) and not isinstance(error, LLMTimeoutError)
    assert failure_cause(error) == "connection"


def test_real_timeouts_stay_timeouts() -> None:
    """An asyncio timeout or an httpx read timeout becomes LLMTimeoutError."""
    from asyncgen.llm.wire import transport_error

    assert isinstance(transport_error(TimeoutError(), info={}), LLMTimeoutError)
    assert isinstance(transport_error(httpx.ReadTimeout("slow"), info={}), LLMTimeoutError)


def test_backoff_stays_short_for_sporadic_failures() -> None:
    """On a healthy endpoint (fault share at or below escalate_above) the first retry is
    immediate and later ones wait the first step; once the endpoint looks unwell the backoff
    doubles per attempt again."""
    policy = RetryPolicy(initial=0.5, maximum=4.0, jitter=0.5, escalate_above=0.2)
    rng = random.Random(2)
    assert calculate_retry_timeout(1, policy, rng, fault_share=0.09) == 0.0
    assert 0.25 <= calculate_retry_timeout(1, policy, rng, fault_share=0.3) <= 0.5
    for attempt in (2, 3, 6):
        assert 0.25 <= calculate_retry_timeout(attempt, policy, rng, fault_share=0.09) <= 0.5
    assert 1.0 <= calculate_retry_timeout(3, policy, rng, fault_share=0.5) <= 2.0


def test_fault_rate_follows_server_failures_only() -> None:
    """5xx, drops and bad bodies count; 429s and the caller's own 4xx mistakes do not."""
    rate = FaultRate(span=32)
    for i in range(2000):  # a steady 9 % of server faults, with 429s and 400s mixed in
        rate.observe("http_500" if i % 11 == 0 else "ok")
        if i % 7 == 0:
            rate.observe("rate_limited")
        if i % 13 == 0:
            rate.observe("http_400")
    assert 0.05 < rate.value < 0.14
    for _ in range(10):  # an outage: ten straight failures tip it over the default 0.2
        rate.observe("connection")
    assert rate.value > 0.3
    assert is_server_fault("malformed") and is_server_fault("http_502")
    assert not is_server_fault("http_404") and not is_server_fault("length")


# -- header families ---------------------------------------------------------------------

NOW = 1_700_000_000.0


def test_azure_minus_one_is_never_a_limit() -> None:
    """Azure's -1 means "not limited": no limit, no remaining, nothing to wait for."""
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "-1",
            "x-ratelimit-remaining-requests": "-1",
            "x-ratelimit-limit-tokens": "-1",
            "x-ratelimit-remaining-tokens": "-1",
        }
    )
    assert info.limit_requests is None and info.limit_tokens is None
    assert info.remaining_requests is None and info.remaining_tokens is None


def test_azure_remaining_tokens_alone_is_read() -> None:
    info = parse_rate_limit_headers({"x-ratelimit-remaining-tokens": "1200"})
    assert info.remaining_tokens == 1200 and info.limit_tokens is None and not info.is_empty


def test_anthropic_keeps_input_and_output_token_limits_apart() -> None:
    """RFC 3339 resets; input and output token limits each in their own field."""
    info = parse_rate_limit_headers(
        {
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": "3999",
            "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:21Z",
            "anthropic-ratelimit-input-tokens-limit": "400000",
            "anthropic-ratelimit-input-tokens-remaining": "399000",
            "anthropic-ratelimit-input-tokens-reset": "2023-11-14T22:13:21Z",
            "anthropic-ratelimit-output-tokens-limit": "80000",
            "anthropic-ratelimit-output-tokens-remaining": "79000",
            "anthropic-ratelimit-tokens-limit": "80000",
            "anthropic-ratelimit-tokens-remaining": "79000",
        },
        now=NOW,
    )
    assert info.limit_requests == 4000 and info.remaining_requests == 3999
    assert info.reset_requests == pytest.approx(1700000001.0 - NOW)
    assert info.limit_input_tokens == 400_000 and info.limit_output_tokens == 80_000
    assert info.limit_tokens is None  # the combined one is only the tighter of the two


def test_openrouter_reset_in_epoch_ms_is_a_fixed_window() -> None:
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit": "20",
            "x-ratelimit-remaining": "3",
            "x-ratelimit-reset": str(int((NOW + 12.5) * 1000)),
        },
        now=NOW,
    )
    assert info.limit_requests == 20 and info.remaining_requests == 3
    assert info.reset_requests == pytest.approx(12.5) and info.fixed_window_requests


def test_groq_requests_per_day_is_a_budget_not_an_rpm() -> None:
    """Groq's limit-requests counts a day (reset minutes away): never taken as RPM."""
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "14400",
            "x-ratelimit-remaining-requests": "14370",
            "x-ratelimit-reset-requests": "2m59.56s",
            "x-ratelimit-limit-tokens": "18000",
            "x-ratelimit-remaining-tokens": "17997",
            "x-ratelimit-reset-tokens": "7.66s",
        }
    )
    assert info.limit_requests is None and info.daily_requests == 14400
    assert info.remaining_requests == 14370 and info.limit_tokens == 18000


def test_together_per_second_limits_read_per_minute() -> None:
    """Together states per-second limits (requests and x-tokenlimit-*): x 60 for RPM/TPM."""
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit": "100",
            "x-ratelimit-remaining": "98",
            "x-ratelimit-reset": "0.02",
            "x-tokenlimit-limit": "3000",
            "x-tokenlimit-remaining": "2900",
        }
    )
    assert info.limit_requests == 6000 and info.remaining_requests == 98
    assert info.limit_tokens == 180_000 and info.remaining_tokens == 2900
    assert not info.fixed_window_requests


def test_litellm_proxy_pass_through_limits_are_not_ours() -> None:
    """Upstream limits a LiteLLM proxy passes on (equal to its llm_provider- copies) are dropped;
    a value that differs is the proxy key's own and is kept."""
    upstream = {
        "x-litellm-model-id": "abc",
        "x-ratelimit-limit-requests": "10000",
        "llm_provider-x-ratelimit-limit-requests": "10000",
        "x-ratelimit-remaining-requests": "9999",
        "llm_provider-x-ratelimit-remaining-requests": "9999",
    }
    assert parse_rate_limit_headers(upstream).is_empty
    own = {**upstream, "x-ratelimit-limit-requests": "300", "x-ratelimit-remaining-requests": "7"}
    info = parse_rate_limit_headers(own)
    assert info.limit_requests == 300 and info.remaining_requests == 7


def test_the_same_headers_without_a_proxy_are_learned() -> None:
    info = parse_rate_limit_headers({"x-ratelimit-limit-requests": "10000"})
    assert info.limit_requests == 10000


def test_retry_hints_llm_provider_and_message() -> None:
    assert parse_retry_after({"llm_provider-retry-after": "4"}) == 4.0
    assert parse_retry_after({"llm_provider-retry-after": "60"}) == 10.0  # LiteLLM's constant
    message = "Rate limit reached for gpt-4o on requests per min. Please try again in 20ms."
    assert parse_retry_after({}, message=message) == pytest.approx(0.02)
    assert parse_retry_after({}, message="no hint here") is None


def test_slots_in_flight_are_a_concurrency_limit_not_an_rpm() -> None:
    """Used requests that refill at once (reset 0) are slots in flight, never RPM."""
    info = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "45",
            "x-ratelimit-remaining-requests": "12",
            "x-ratelimit-reset-requests": "0s",
        }
    )
    assert info.limit_requests is None and info.concurrency == 45
    fresh = parse_rate_limit_headers(
        {
            "x-ratelimit-limit-requests": "6000",
            "x-ratelimit-remaining-requests": "5999",
            "x-ratelimit-reset-requests": "10ms",
        }  # fmt: skip
    )
    assert fresh.limit_requests == 6000 and fresh.concurrency is None
