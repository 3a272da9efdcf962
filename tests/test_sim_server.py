"""The simulator over real sockets: rate-limit windows, overload, latency, content, stats."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from asyncgen.prompts import KIND_HEADER
from asyncgen.sim import start_simulator


def _body(text: str = "Find me a cheap train to York tomorrow.", **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


async def _burst(sim: Any, count: int, **kwargs: Any) -> list[httpx.Response]:
    """`count` requests fired at once, so they land in the same second even on a busy machine."""
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=10.0) as client:
        return list(
            await asyncio.gather(
                *(client.post("/chat/completions", json=_body(), **kwargs) for _ in range(count))
            )
        )


async def test_rpm_window_refuses_a_burst_and_refills_pro_rata(
    sim_factory: Callable[..., Any],
) -> None:
    """rpm=60 admits one second's share (+burst) of a burst, refuses the rest, refills in ~1 s."""
    sim = sim_factory(rpm=60)
    responses = await _burst(sim, 8)
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code == 429]
    assert 2 <= len(admitted) <= 3 and len(admitted) + len(refused) == 8
    wait = max(int(r.headers["retry-after-ms"]) for r in refused) / 1000
    assert 0 < wait <= 1.0 and all(r.headers["retry-after"] == "1" for r in refused)
    await asyncio.sleep(wait + 0.05)
    assert (await _burst(sim, 1))[0].status_code == 200
    stats = sim.stats()
    assert stats["rate_limited"] == len(refused) == stats["by_status"]["429"]


async def test_refused_requests_do_not_use_quota(sim_factory: Callable[..., Any]) -> None:
    """Remaining requests count only admitted ones; a storm of refused ones changes nothing."""
    sim = sim_factory(rpm=120)  # 2/s, bursts of 3
    responses = await _burst(sim, 30)
    admitted = sum(r.status_code == 200 for r in responses)
    assert 3 <= admitted <= 5
    remaining = min(
        int(r.headers["x-ratelimit-remaining-requests"]) for r in responses if r.status_code == 200
    )
    assert remaining >= 120 - admitted - 1
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"  # the refusing dimension


async def test_rolling_limiter_over_a_socket(sim_factory: Callable[..., Any]) -> None:
    """--limiter rolling at 60 RPM admits one a second; retry-after in whole seconds only."""
    sim = sim_factory(rpm=60, limiter="rolling", retry_after="seconds")
    responses = await _burst(sim, 6)
    assert [r.status_code for r in responses].count(200) == 1
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and "retry-after-ms" not in refused.headers
    await asyncio.sleep(1.05)
    assert (await _burst(sim, 1))[0].status_code == 200


async def test_concurrency_limiter_frees_slots_when_replies_end(
    sim_factory: Callable[..., Any],
) -> None:
    """--limiter concurrency: 2 in flight per key; the rest 429 until a reply ends."""
    sim = sim_factory(limiter="concurrency", concurrency_limit=2, latency_median=0.3)
    codes = [r.status_code for r in await _burst(sim, 5)]
    assert codes.count(200) == 2 and codes.count(429) == 3
    codes = [r.status_code for r in await _burst(sim, 2)]
    assert codes == [200, 200]


def test_tpm_limits_tokens_and_reports_token_headers(sim_factory: Callable[..., Any]) -> None:
    """tpm is charged prompt + max_tokens; a second big request right after is refused."""
    sim = sim_factory(tpm=6_000)  # 100 tokens/s, bursts of 110
    with httpx.Client(base_url=sim.base_url, timeout=5.0) as client:
        first = client.post("/chat/completions", json=_body(max_tokens=100))
        second = client.post("/chat/completions", json=_body(max_tokens=100))
    assert first.status_code == 200 and second.status_code == 429
    assert first.headers["x-ratelimit-limit-tokens"] == "6000"
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 6000 - 100
    assert "x-ratelimit-limit-requests" not in first.headers
    assert second.json()["error"]["type"] == "tokens"  # OpenAI: the refusing dimension
    assert second.json()["error"]["code"] == "rate_limit_exceeded"


async def test_keys_have_separate_allowances(sim_factory: Callable[..., Any]) -> None:
    """Each bearer token has its own rpm (no --api-key: any token is accepted)."""
    sim = sim_factory(rpm=60)
    for key in ("a", "b"):
        responses = await _burst(sim, 5, headers={"Authorization": f"Bearer {key}"})
        codes = [r.status_code for r in responses]
        assert 2 <= codes.count(200) <= 3 and 429 in codes


async def test_overload_reject_answers_503_past_max_concurrency() -> None:
    """With max_concurrency 2 and reject, a third concurrent request gets 503."""
    async with start_simulator(max_concurrency=2, overload="reject", latency_median=0.5) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url, timeout=5.0) as client:
            responses = await asyncio.gather(
                *(client.post("/chat/completions", json=_body(str(i))) for i in range(5))
            )
        stats = await sim.stats()
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 200, 503, 503, 503]
    assert stats["overloaded"] == 3 and stats["max_in_service"] == 2


async def test_overload_queue_serves_everyone_in_turn() -> None:
    """With max_concurrency 2 and queue, all requests succeed but only two are served at once."""
    async with start_simulator(max_concurrency=2, overload="queue", latency_median=0.2) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url, timeout=5.0) as client:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(client.post("/chat/completions", json=_body(str(i))) for i in range(6))
            )
            elapsed = time.monotonic() - started
        stats = await sim.stats()
    assert [r.status_code for r in responses] == [200] * 6, [r.text for r in responses]
    assert stats["max_in_service"] == 2 and stats["max_in_flight"] == 6
    assert elapsed >= 0.55  # three rounds of 0.2 s


async def test_latency_is_lognormal_around_the_median() -> None:
    """Latency never blocks the server: 20 concurrent 0.3 s calls overlap instead of taking 6 s."""
    async with start_simulator(latency_median=0.3, latency_sigma=0.1) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url, timeout=5.0) as client:
            started = time.monotonic()
            responses = await asyncio.gather(
                *(client.post("/chat/completions", json=_body(str(i))) for i in range(20))
            )
            elapsed = time.monotonic() - started
    assert 0.2 < elapsed < 3.0
    waits = sorted(int(r.headers["openai-processing-ms"]) for r in responses)
    assert 150 < waits[len(waits) // 2] < 450  # the median near 300 ms
    assert waits[0] != waits[-1]  # lognormal, not constant


async def test_streaming_paces_output_tokens() -> None:
    """seconds_per_output_token spreads a stream's chunks over time."""
    async with start_simulator(seconds_per_output_token=0.01) as sim:
        async with httpx.AsyncClient(base_url=sim.base_url, timeout=10.0) as client:
            started = time.monotonic()
            response = await client.post(
                "/chat/completions",
                json=_body(stream=True, stream_options={"include_usage": True}),
            )
            elapsed = time.monotonic() - started
    usage_line = [x for x in response.text.split("\n\n") if '"usage"' in x][-1]
    tokens = int(usage_line.split('"completion_tokens":')[1].split(",")[0])
    assert elapsed >= tokens * 0.01 * 0.8
    assert response.text.count("data: ") >= 5


def test_same_request_same_answer_across_restarts_and_order(
    sim_factory: Callable[..., Any],
) -> None:
    """Content depends on (seed, kind, messages), not on arrival order or process."""
    texts = [f"question number {i} about gardens" for i in range(5)]

    def answers(sim: Any, order: list[str]) -> dict[str, str]:
        with httpx.Client(base_url=sim.base_url, timeout=5.0) as client:
            return {
                t: client.post("/chat/completions", json=_body(t)).json()["choices"][0]["message"][
                    "content"
                ]
                for t in order
            }

    first = answers(sim_factory(seed=3), texts)
    second = answers(sim_factory(seed=3), list(reversed(texts)))
    other_seed = answers(sim_factory(seed=4), texts)
    assert first == second
    assert first != other_seed


def test_duplicate_rate_repeats_earlier_answers_of_the_same_kind(
    sim_factory: Callable[..., Any],
) -> None:
    """At duplicate_rate 0.5 about half the answers repeat an earlier one, per kind."""
    sim = sim_factory(duplicate_rate=0.5, seed=1)
    with httpx.Client(base_url=sim.base_url, timeout=5.0) as client:
        seen: list[str] = []
        for i in range(60):
            response = client.post(
                "/chat/completions",
                json=_body(f"unique question {i} about bicycles and rain"),
                headers={KIND_HEADER: "generic"},
            )
            seen.append(response.json()["choices"][0]["message"]["content"])
    repeats = len(seen) - len(set(seen))
    assert 15 <= repeats <= 45
    assert sim.stats()["duplicates"] == repeats


def test_bad_requests_get_400_unknown_urls_404_health_200(sim_factory: Callable[..., Any]) -> None:
    """Invalid JSON or missing messages: 400 naming the param; unknown path 404; /health ok."""
    sim = sim_factory()
    with httpx.Client(base_url=sim.base_url, timeout=5.0) as client:
        broken = client.post("/chat/completions", content=b"{not json")
        no_messages = client.post("/chat/completions", json={"model": "m"})
        unknown = client.get("/nope")
        health = client.get(f"{sim.root_url}/health")
    assert broken.status_code == 400
    assert no_messages.status_code == 400
    assert no_messages.json()["error"]["param"] == "messages"
    assert unknown.status_code == 404
    assert health.json() == {"status": "ok"}


async def test_stats_count_and_reset(sim_factory: Callable[..., Any]) -> None:
    """/sim/stats counts requests and tokens; /sim/reset zeroes them and the limiter."""
    sim = sim_factory(rpm=60)
    await _burst(sim, 4)
    stats = sim.stats()
    assert stats["requests"] == 4 and stats["completions"] + stats["rate_limited"] == 4
    assert stats["rate_limited"] >= 1
    assert stats["tokens"] == stats["prompt_tokens"] + stats["completion_tokens"] > 0
    sim.reset_stats()
    assert sim.stats()["requests"] == 0
    assert [r.status_code for r in await _burst(sim, 2)] == [200, 200]
