"""The official openai SDK against `asyncgen sim serve` over a real socket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

MESSAGES = [{"role": "user", "content": "Recommend a quiet hotel in Cambridge."}]


def test_sdk_gets_a_completion_with_usage(sim_factory: Callable[..., Any]) -> None:
    """A plain completion echoes the model and reports usage."""
    sim = sim_factory(api_key="sk-test")
    client = openai.OpenAI(base_url=sim.base_url, api_key="sk-test", max_retries=0)
    result = client.chat.completions.create(model="my-model", messages=MESSAGES)
    assert result.model == "my-model"
    assert result.choices[0].message.content
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None and result.usage.completion_tokens > 0


def test_sdk_gets_401_with_a_wrong_key(sim_factory: Callable[..., Any]) -> None:
    """A wrong bearer token is refused with OpenAI's error body."""
    sim = sim_factory(api_key="sk-right")
    client = openai.OpenAI(base_url=sim.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 401
    assert info.value.code == "invalid_api_key"
    assert "sk-wrong" not in str(info.value.body)


def test_sdk_gets_429_with_rate_limit_headers(sim_factory: Callable[..., Any]) -> None:
    """Over --rpm the SDK sees 429, retry-after and the x-ratelimit-* headers."""
    sim = sim_factory(rpm=60)
    client = openai.OpenAI(base_url=sim.base_url, api_key="any", max_retries=0)
    with pytest.raises(openai.RateLimitError) as info:
        for _ in range(5):
            client.chat.completions.create(model="m", messages=MESSAGES)
    headers = info.value.response.headers
    assert info.value.code == "rate_limit_exceeded"
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-limit-requests"] == "60"
    assert int(headers["x-ratelimit-remaining-requests"]) < 60
    assert headers["x-ratelimit-reset-requests"].endswith("s")


def test_sdk_streams_content_and_a_final_usage_chunk(sim_factory: Callable[..., Any]) -> None:
    """A stream yields content deltas, a finish reason, then a usage-only chunk."""
    sim = sim_factory()
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    chunks = list(
        client.chat.completions.create(
            model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    whole = client.chat.completions.create(model="m", messages=MESSAGES)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_stream_options_can_turn_the_usage_chunk_off(sim_factory: Callable[..., Any]) -> None:
    """include_usage false: no chunk carries usage."""
    sim = sim_factory()
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    stream = client.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": False}
    )
    assert all(chunk.usage is None for chunk in stream)


def test_max_tokens_truncates_with_finish_reason_length(sim_factory: Callable[..., Any]) -> None:
    """max_tokens caps the answer and its usage, and says "length"."""
    sim = sim_factory()
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    result = client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=3)
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 3
    assert len(result.choices[0].message.content or "") <= 12


def test_sdk_lists_the_configured_models(sim_factory: Callable[..., Any]) -> None:
    """GET /v1/models lists the simulator's model names."""
    sim = sim_factory(models=["alpha", "beta"])
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    assert [m.id for m in client.models.list()] == ["alpha", "beta"]


def test_missing_key_gets_401_too(sim_factory: Callable[..., Any]) -> None:
    """No Authorization header at all: 401, OpenAI's message about providing a key."""
    import httpx

    sim = sim_factory(api_key="sk-right")
    response = httpx.post(
        f"{sim.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES}
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
