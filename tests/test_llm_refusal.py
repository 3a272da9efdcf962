"""The limits a LiteLLM router's 429 states in its body (it sends no limit header of its own).

The bodies are LiteLLM 1.108's, as its proxy answered on loopback (see `litellm_proxy`):
one model group of one deployment, and one of two.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from fake_clock import FakeClock

from asyncgen.config import LimitSettings, LLMSettings
from asyncgen.errors import RateLimitError
from asyncgen.llm import ChatRequest, RateLimiter, RateLimitInfo, Transport, set_testing
from asyncgen.llm.refusal import limits_in_refusal, to_minute_turn

ONE = (
    "litellm.RateLimitError: No deployments available for selected model. Passed "
    "model=sim-model. Deployments={'3b4be0e6f5f6d966': {'current_tpm': 64, 'tpm_limit': inf, "
    "'current_rpm': 4, 'rpm_limit': 5}}\n\nLiteLLM: model group 'sim-model' failed with the "
    "error above. No fallback was attempted."
)
TWO = (
    "litellm.RateLimitError: No deployments available for selected model. Passed model=two. "
    "Deployments={'2cc349e8': {'current_tpm': 64, 'tpm_limit': inf, 'current_rpm': 4, "
    "'rpm_limit': 5}, 'c31bd1d6': {'current_tpm': 144, 'tpm_limit': inf, 'current_rpm': 9, "
    "'rpm_limit': 10}}\n\nLiteLLM: model group 'two' failed with the error above."
)
WALL = 1_765_000_020.0  # a turn of the UTC minute (a multiple of 60)
REQUEST = ChatRequest(messages=[{"role": "user", "content": "hello there"}], max_tokens=20)


def litellm_body(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "throttling_error", "param": None, "code": "429"}}


def test_a_deployments_limit_is_what_the_router_admits() -> None:
    """It refuses at `current_rpm + 1 >= rpm_limit`: 4 of 5 a minute, 599 of 600."""
    info = limits_in_refusal(litellm_body(ONE), sent_at=WALL + 15.25)
    assert info is not None and info.limit_requests == 4 and info.limit_tokens is None
    assert info.remaining_requests == 0 and info.fixed_window_requests
    assert info.reset_requests == pytest.approx(44.75)  # the UTC minute turns then
    wider = limits_in_refusal(ONE.replace("'rpm_limit': 5", "'rpm_limit': 600"), WALL)
    assert wider is not None and wider.limit_requests == 599 and wider.remaining_requests == 595


def test_a_groups_limit_is_the_sum_of_its_deployments() -> None:
    info = limits_in_refusal(litellm_body(TWO), sent_at=WALL + 30)
    assert info is not None and info.limit_requests == 4 + 9 and info.remaining_requests == 0


def test_just_after_the_minute_turns_a_refusal_asks_again_soon() -> None:
    """The proxy's clock may lag ours: a refusal 0.3 s into our minute is its last minute's,
    so the next try is half a second away, not a whole minute."""
    assert to_minute_turn(WALL + 0.3) == pytest.approx(0.5)
    assert to_minute_turn(WALL + 2.5) == pytest.approx(57.5)
    assert to_minute_turn(WALL + 59.9) == pytest.approx(0.1)


def test_token_limits_are_read_and_an_unlimited_deployment_leaves_none() -> None:
    both = ONE.replace("'tpm_limit': inf", "'tpm_limit': 90000")
    info = limits_in_refusal(both)
    assert info is not None and info.limit_tokens == 90000 and info.limit_requests == 4
    unlimited = TWO.replace("'rpm_limit': 10", "'rpm_limit': inf")
    assert limits_in_refusal(unlimited) is None  # one deployment unlimited: the group too
    tokens_only = unlimited.replace("'tpm_limit': inf", "'tpm_limit': 1000")
    info = limits_in_refusal(tokens_only)
    assert info is not None and info.limit_requests is None and info.limit_tokens == 2000


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "Rate limit reached for gpt-4o on requests per min (RPM): "
                   "Limit 6000, Used 6000, Requested 1. Please try again in 10ms."}},
        {"error": {"message": "litellm.RateLimitError: Deployment over defined rpm limit=5. "
                   "current usage=6"}},
        "<html><title>429 Too Many Requests</title></html>",
        None,
        {"error": "slow down"},
    ],
)  # fmt: skip
def test_other_refusals_state_nothing(body: Any) -> None:
    """Only the router's whole-group refusal is read: one deployment's limit (a race at the
    edge) is not the group's, and other providers' messages are their headers' business."""
    assert limits_in_refusal(body) is None


class Proxy:
    """A LiteLLM proxy as its answers look: the upstream's limits passed through (with their
    `llm_provider-` copies) on 200s; 429s with only `llm_provider-retry-after: 60`."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls == 2 or 2 < self.calls <= 1 + self.refusals:
            return httpx.Response(
                429,
                content=orjson.dumps(litellm_body(TWO)),
                headers={"llm_provider-retry-after": "60", "x-litellm-call-id": "c1"},
            )
        upstream = {"x-ratelimit-limit-requests": "6000", "x-ratelimit-remaining-requests": "5999"}
        answer = {
            "id": "chatcmpl-1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2},
        }  # fmt: skip
        headers = {**upstream, **{f"llm_provider-{k}": v for k, v in upstream.items()}}
        return httpx.Response(200, content=orjson.dumps(answer), headers=headers)


async def test_the_proxys_stated_limit_is_learned_not_the_upstreams() -> None:
    set_testing(True)
    try:
        settings = LLMSettings.model_validate(
            {"provider": "compatible", "model": "m1", "retry": {"max_retries": 3}}
        )
        proxy = Proxy(refusals=1)
        now = [1000.0]

        async def sleep(seconds: float) -> None:  # the pacing at 13 RPM, without the wait
            now[0] += seconds

        client = Transport.from_settings(
            settings,
            api_key="sk-test",
            http_transport=httpx.MockTransport(proxy),
            sleep=sleep,
            clock=lambda: now[0],
        )
        async with client:
            await client.chat(REQUEST)
            assert client.stats.snapshot()["rpm_limit"] is None  # the upstream's 6,000: not ours
            result = await client.chat(REQUEST)  # refused once, then answered
            snap = client.stats.snapshot()
    finally:
        set_testing(False)
    assert result.attempts == 2
    assert snap["rpm_limit"] == 13  # the proxy's group: 5 + 10 a minute, less one each
    limiter = next(iter(snap["limiters"].values()))
    assert limiter["send_rpm"] is not None and limiter["send_rpm"] <= 13
    assert now[0] - 1000.0 >= 60 / 13 * 0.5  # the retry waited its turn at that rate


async def test_a_refused_stream_teaches_the_same_limit() -> None:
    set_testing(True)
    try:
        settings = LLMSettings.model_validate(
            {"provider": "compatible", "model": "m1", "retry": {"max_retries": 0}}
        )
        proxy = Proxy(refusals=1)
        proxy.calls = 1  # the next call is refused
        client = Transport.from_settings(
            settings, api_key="sk-test", http_transport=httpx.MockTransport(proxy)
        )
        async with client:
            with pytest.raises(RateLimitError):
                await client.chat_stream(REQUEST)
            snap = client.stats.snapshot()
    finally:
        set_testing(False)
    assert snap["rpm_limit"] == 13


async def test_a_spent_proxy_minute_holds_sends_until_it_turns_without_probing() -> None:
    """A burst (nothing known) spends the proxy's minute; the refusals of the sends in flight
    say so. Nothing goes until the minute turns (no probe every 2 s, each one a 429), then
    sends go at the stated 599 a minute, evenly (a minute never holds more)."""
    clock = FakeClock()
    settings = LimitSettings.model_validate({"concurrency": 50})  # the default 1 s ramp
    lim = RateLimiter(settings, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        lim.release(await lim.acquire(), outcome="ok")
    in_flight = [await lim.acquire() for _ in range(8)]
    clock.now += 0.3  # the refusals come back
    for permit in in_flight:
        spent = RateLimitInfo(
            limit_requests=599,
            remaining_requests=0,
            reset_requests=30.0 - (permit.sent_at - 1000.0),  # the turn: 30 s after the burst
            fixed_window_requests=True,
        )
        lim.release(permit, outcome="rate_limited", info=spent, retry_after=10.0)
    assert lim.rpm_limit == 599 and lim.paused_for == 0  # no blind hold: the turn is known
    times = []
    for _ in range(20):
        permit = await lim.acquire()
        times.append(clock.now)
        lim.release(permit, outcome="ok")
    assert 1030.0 <= times[0] <= 1030.2  # at the turn (+ its 50 ms guard), not before
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(g == pytest.approx(60 / 599, rel=0.02) for g in gaps[1:])


class LateClock(FakeClock):
    """Every sleep ends a millisecond late, as a busy loop's timers do."""

    async def sleep(self, seconds: float) -> None:
        await super().sleep(seconds + 0.001 if seconds > 0 else seconds)


async def test_late_wake_ups_do_not_cost_the_rate() -> None:
    """At 599 RPM (the proxy's stated limit) a bucket of exactly one send lost each wake-up's
    lateness: 594 a minute with 1 ms late timers. The slack makes it up: 599, never 600+."""
    clock = LateClock()
    settings = LimitSettings.model_validate({"rpm": 599, "resume_ramp_seconds": 0})
    lim = RateLimiter(settings, clock=clock, sleep=clock.sleep)
    start, sent = clock.now, 0
    while clock.now < start + 60.0:
        lim.release(await lim.acquire(), outcome="ok")
        sent += 1
    assert 598 <= sent - 1 <= 599  # the sends after the first one, in its minute


async def test_a_burst_before_the_limit_was_known_costs_no_time_past_the_turn() -> None:
    """The sends of the burst that spent the minute were charged as debt when the limit was
    learned (~4 s at 599 RPM); the window they spent ends at the turn, 1 s away, and so
    does the wait: the next send goes then, not 3 s into the next minute."""
    clock = FakeClock()
    lim = RateLimiter(LimitSettings.model_validate({}), clock=clock, sleep=clock.sleep)
    for _ in range(30):
        lim.release(await lim.acquire(), outcome="ok")
    in_flight = [await lim.acquire() for _ in range(8)]
    clock.now += 0.3
    for permit in in_flight:
        spent = RateLimitInfo(
            limit_requests=599, remaining_requests=0, reset_requests=1.3, fixed_window_requests=True
        )
        lim.release(permit, outcome="rate_limited", info=spent, retry_after=10.0)
    lim.release(await lim.acquire(), outcome="ok")
    assert 1001.3 <= clock.now <= 1001.5
