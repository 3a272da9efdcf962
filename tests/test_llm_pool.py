"""The model pool: weighted choice, one model per conversation under concurrency, sampling draws."""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from collections.abc import Iterator

import httpx
import orjson
import pytest

from asyncgen.config import LLMSettings, PoolEntry, SamplingLists
from asyncgen.llm import ChatRequest, Transport, set_testing


@pytest.fixture(autouse=True)
def _instant_backoff() -> Iterator[None]:
    set_testing(True)
    yield
    set_testing(False)


POOL = [
    PoolEntry(provider="compatible", model="small", weight=0.2),
    PoolEntry(provider="compatible", model="large", weight=0.8),
]


def transport(handler: httpx.MockTransport | None = None) -> Transport:
    settings = LLMSettings(provider="compatible", base_url="http://pool.test/v1", model="default-m")
    mock = handler or httpx.MockTransport(lambda r: httpx.Response(500))
    return Transport.from_settings(settings, api_key=None, http_transport=mock)


async def test_conversations_keep_their_model_under_concurrency() -> None:
    """200 interleaved conversations each send every call to the one model they locked."""
    seen: defaultdict[str, set[str]] = defaultdict(set)

    async def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        seen[body["messages"][0]["content"]].add(body["model"])
        await asyncio.sleep(random.Random(len(seen)).random() / 1000)
        answer = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        return httpx.Response(200, json=answer)

    async with transport(httpx.MockTransport(handler)) as client:

        async def conversation(i: int) -> str:
            handle = client.lock_model(random.Random(i), POOL)
            for _ in range(3):
                await client.chat(
                    ChatRequest(messages=[{"role": "user", "content": f"conv-{i}"}]), handle
                )
                await asyncio.sleep(0)
            return handle.model

        models = await asyncio.gather(*(conversation(i) for i in range(200)))
        mix = client.stats.snapshot()["model_mix"]
    assert all(len(used) == 1 for used in seen.values()) and len(seen) == 200
    assert {f"conv-{i}": {m} for i, m in enumerate(models)} == dict(seen)
    assert mix == dict(Counter(models)) and 120 <= mix["large"] <= 190


def test_weighted_choice_follows_weights_and_is_seeded() -> None:
    """The realised mix tracks the weights, and the same seed gives the same model."""
    client = transport()
    rng = random.Random(7)
    picks = Counter(client.lock_model(rng, POOL).model for _ in range(2000))
    assert 0.75 <= picks["large"] / 2000 <= 0.85
    assert client.lock_model(random.Random(3), POOL) == client.lock_model(random.Random(3), POOL)


def test_sampling_lists_drawn_per_conversation() -> None:
    """Each conversation draws its temperature/top_p/penalties from the configured lists."""
    client = transport()
    lists = SamplingLists(
        temperature=[0.1, 0.9], top_p=[0.5], frequency_penalty=[0.3], presence_penalty=[0.0]
    )
    handles = [client.lock_model(random.Random(i), None, lists) for i in range(50)]
    assert {h.temperature for h in handles} == {0.1, 0.9}
    assert {(h.top_p, h.frequency_penalty, h.presence_penalty) for h in handles} == {
        (0.5, 0.3, 0.0)
    }
    assert {h.model for h in handles} == {"default-m"}


def test_sampling_can_be_left_to_requests() -> None:
    """draw_sampling=False leaves every sampling value to the request."""
    handle = transport().lock_model(random.Random(0), POOL, draw_sampling=False)
    assert (
        handle.temperature,
        handle.top_p,
        handle.frequency_penalty,
        handle.presence_penalty,
    ) == (
        None,
        None,
        None,
        None,
    )


async def test_pool_entries_on_other_providers_get_their_own_endpoint_and_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An openrouter entry goes to OpenRouter's URL with OPENROUTER_API_KEY, not the default key."""
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-key")
    hits: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hits.append((str(request.url), request.headers.get("authorization", "")))
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}}]})

    settings = LLMSettings(provider="openai", model="gpt-4o-mini")
    pool = [PoolEntry(provider="openrouter", model="google/gemini-2.0-flash-exp")]
    client = Transport.from_settings(
        settings, api_key="oa-key", http_transport=httpx.MockTransport(handler)
    )
    async with client:
        await client.chat(ChatRequest(messages=[{"role": "user", "content": "x"}]))
        await client.chat(
            ChatRequest(messages=[{"role": "user", "content": "x"}]),
            client.lock_model(random.Random(0), pool),
        )
    assert hits == [
        ("https://api.openai.com/v1/chat/completions", "Bearer oa-key"),
        ("https://openrouter.ai/api/v1/chat/completions", "Bearer or-key"),
    ]


async def test_base_url_override_routes_the_whole_pool() -> None:
    """With an explicit base_url (a proxy or the simulator) every pool entry goes there."""
    urls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        urls.append(str(request.url))
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}}]})

    settings = LLMSettings(provider="openai", model="gpt-4o-mini")
    pool = [PoolEntry(provider="openrouter", model="anthropic/claude-3.5-haiku")]
    client = Transport.from_settings(
        settings,
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
        http_transport=httpx.MockTransport(handler),
    )
    async with client:
        await client.chat(
            ChatRequest(messages=[{"role": "user", "content": "x"}]),
            client.lock_model(random.Random(0), pool),
        )
    assert urls == ["http://127.0.0.1:9/v1/chat/completions"]
