"""The transport against the built-in simulator over real sockets: rate-limit window and faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from asyncgen.config import LLMSettings
from asyncgen.errors import LLMError
from asyncgen.llm import ChatRequest, Transport, set_testing


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


def warm(sim: Any) -> Any:
    """Answer one request before measuring (the simulator's first answer loads its responders)."""
    headers = {"Authorization": f"Bearer {sim.api_key or 'none'}"}
    body = {"model": "sim-model", "messages": [{"role": "user", "content": "warm up"}]}
    httpx.post(f"{sim.base_url}/chat/completions", json=body, headers=headers, timeout=30)
    sim.reset_stats()
    return sim


def transport(sim: Any, **limits: Any) -> Transport:
    settings = LLMSettings.model_validate(
        {"provider": "simulator", "model": "sim-model", "limits": {"concurrency": 32, **limits}}
    )
    return Transport.from_settings(settings, api_key=sim.api_key, base_url=sim.base_url)


async def drive(
    client: Transport, n: int, workers: int = 32, **request: Any
) -> tuple[int, list[LLMError], float]:
    """Send n requests through a bounded worker pool; (results, failures, wall seconds)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    done: list[int] = []
    failed: list[LLMError] = []

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            messages = [{"role": "user", "content": f"q{i}"}]
            try:
                await client.chat(ChatRequest(messages=messages, **request))
                done.append(i)
            except LLMError as exc:
                failed.append(exc)

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(done), failed, time.monotonic() - started


@pytest.mark.parametrize("configured", [True, False], ids=["configured", "learned"])
async def test_holds_the_rate_limit_without_429s(
    sim_factory: Callable[..., Any], configured: bool
) -> None:
    """At 1,200 RPM 60 requests take ~3 s with no 429 storm, whether limits are given or learned."""
    sim = warm(sim_factory(rpm=1200, latency_median=0.05))
    async with transport(sim, rpm=1200 if configured else None) as client:
        ok, failed, wall = await drive(client, 60, max_tokens=16)
        snap = client.stats.snapshot()
    assert ok == 60 and not failed
    # A client without a limiter would see hundreds of 429s here; a stray one can come from
    # the simulator's clock when a busy machine stalls it (its 1 s window then looks crowded).
    assert snap["rate_limited"] <= 2 and sim.stats()["rate_limited"] == snap["rate_limited"]
    assert snap["rpm_limit"] == 1200
    # Not faster than the limit: a cold endpoint's second (20, +10 %) at once, then 20/s.
    assert (60 - 22) / 20 <= wall <= 6.0  # loose above for a busy machine


async def test_tpm_limit_learned_and_respected(sim_factory: Callable[..., Any]) -> None:
    """A TPM limit from headers paces requests by their token reservations: no 429 storm."""
    sim = warm(sim_factory(tpm=60_000))
    async with transport(sim) as client:
        ok, failed, wall = await drive(client, 60, workers=16, max_tokens=40)
        snap = client.stats.snapshot()
    assert ok == 60 and not failed and snap["tpm_limit"] == 60_000
    assert snap["rate_limited"] <= 2
    # The simulator charges prompt + max_tokens; it holds 1,100 at once and refills 1,000/s.
    charged = sim.stats()["prompt_tokens"] + 60 * 40
    assert charged > 2_400 and wall >= (charged - 1_100) / 1_000


@pytest.mark.parametrize(
    ("fault", "cause"),
    [
        ("error_500", "http_500"),
        ("error_503", "http_503"),
        ("drop_connection", "connection"),
        ("malformed_json", "malformed"),
        ("empty_content", "empty"),
    ],
)
async def test_each_fault_kind_is_retried_to_success(
    sim_factory: Callable[..., Any], fault: str, cause: str
) -> None:
    """With 30 % of one fault kind every request still gets an answer; retries name the cause."""
    sim = sim_factory(**{fault: 0.3}, seed=3)
    async with transport(sim) as client:
        ok, failed, _ = await drive(client, 40)
        snap = client.stats.snapshot()
    assert ok == 40 and not failed
    assert set(snap["retries"]) == {cause} and snap["retries"][cause] >= 5


async def test_truncation_retried_for_complete_answers(sim_factory: Callable[..., Any]) -> None:
    """finish_reason=length faults are retried when the caller needs the whole answer."""
    sim = sim_factory(truncate_length=0.3, seed=5)
    async with transport(sim) as client:
        ok, failed, _ = await drive(client, 30, require_complete=True)
        snap = client.stats.snapshot()
    assert ok == 30 and not failed and snap["retries"].get("length", 0) >= 3


async def test_unrecoverable_requests_end_as_recorded_failures(
    sim_factory: Callable[..., Any],
) -> None:
    """When faults outlast the retries each request ends as a counted failure; none is lost."""
    sim = sim_factory(error_500=0.9, seed=1)
    settings = LLMSettings.model_validate({"provider": "simulator", "model": "sim-model"})
    client = Transport.from_settings(
        settings, api_key=sim.api_key, base_url=sim.base_url, max_retries=1
    )
    async with client:
        ok, failed, _ = await drive(client, 30)
        snap = client.stats.snapshot()
    assert ok + len(failed) == 30 and len(failed) >= 15
    assert snap["failures"] == {"http_500": len(failed)} and snap["successes"] == ok


async def test_wrong_key_fails_fast_naming_the_variable(sim_factory: Callable[..., Any]) -> None:
    """A rejected key is not retried and the message says which variable to set."""
    sim = sim_factory(api_key="right")
    settings = LLMSettings.model_validate({"provider": "simulator", "model": "sim-model"})
    async with Transport.from_settings(settings, api_key="wrong", base_url=sim.base_url) as client:
        with pytest.raises(LLMError, match="ASYNCGEN_SIM_API_KEY"):
            await client.chat(ChatRequest(messages=[{"role": "user", "content": "x"}]))
    assert sim.stats()["unauthorized"] == 1


async def test_streaming_reports_time_to_first_token(sim_factory: Callable[..., Any]) -> None:
    """chat_stream assembles the streamed answer and times its first token and the gaps."""
    sim = sim_factory(latency_median=0.05, seconds_per_output_token=0.002)
    request = ChatRequest(messages=[{"role": "user", "content": "tell me"}], max_tokens=30)
    async with transport(sim) as client:
        result = await client.chat_stream(request)
    assert result.content and result.ttft is not None and 0.04 <= result.ttft <= result.latency
    assert result.completion_tokens > 0 and result.itl


async def test_adaptive_window_finds_an_unadvertised_capacity(
    sim_factory: Callable[..., Any],
) -> None:
    """With no limits known, 503s from a server that serves 4 at a time shrink the window."""
    set_testing(False)  # real backoff: instant retries would hammer the full server
    sim = warm(sim_factory(max_concurrency=4, overload="reject", latency_median=0.05, seed=2))
    async with transport(sim, concurrency=64, initial_concurrency=16) as client:
        ok, failed, _ = await drive(client, 120, workers=64)
        snap = client.stats.snapshot()
    assert ok == 120 and not failed, snap
    assert snap["rpm_limit"] is None and snap["concurrency_limit"] <= 12
    assert snap["retries"].get("http_503", 0) < 120  # not a retry storm: the window backed off


async def test_plain_httpx_backend_works_too(sim_factory: Callable[..., Any]) -> None:
    """llm.http_backend=httpx (httpx's own pool) talks to the same endpoint."""
    sim = sim_factory()
    settings = LLMSettings.model_validate(
        {"provider": "simulator", "model": "sim-model", "http_backend": "httpx"}
    )
    async with Transport.from_settings(settings, api_key=sim.api_key, base_url=sim.base_url) as c:
        ok, failed, _ = await drive(c, 20, workers=4)
    assert ok == 20 and not failed
