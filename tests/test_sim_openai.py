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
