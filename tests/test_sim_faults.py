"""Every fault kind, injected at rate 1 and seen by a real client over a real socket."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import orjson
import pytest

MESSAGES = [{"role": "user", "content": "Plan a weekend of hiking near Snowdon for two."}]
BODY = {"model": "m", "messages": MESSAGES}


def _post(sim: Any, stream: bool = False, timeout: float = 5.0) -> httpx.Response:
    return httpx.post(
        f"{sim.base_url}/chat/completions", json={**BODY, "stream": stream}, timeout=timeout
    )


@pytest.mark.parametrize(("kind", "status"), [("error_500", 500), ("error_503", 503)])
def test_server_errors_have_openai_bodies(
    sim_factory: Callable[..., Any], kind: str, status: int
) -> None:
    """500 and 503 faults answer with that status and OpenAI's server_error body."""
    sim = sim_factory(**{kind: 1.0})
    response = _post(sim)
    assert response.status_code == status
    assert response.json()["error"]["type"] == "server_error"
    assert sim.stats()["faults"] == {kind: 1}


def test_dropped_connection_is_a_connection_error(sim_factory: Callable[..., Any]) -> None:
    """A drop closes the socket without a response: the SDK raises APIConnectionError."""
    sim = sim_factory(drop_connection=1.0)
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    with pytest.raises(httpx.RemoteProtocolError):
        _post(sim, stream=True).raise_for_status()
    stats = sim.stats()
    assert stats["faults"] == {"drop_connection": 2}
    assert stats["completions"] == 0


def test_malformed_json_body_does_not_parse(sim_factory: Callable[..., Any]) -> None:
    """The malformed fault returns 200 with a body that is not valid JSON."""
    sim = sim_factory(malformed_json=1.0)
    response = _post(sim)
    assert response.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(response.content)
    events = [
        line[6:] for line in _post(sim, stream=True).text.split("\n") if line.startswith("data: ")
    ]
    broken = 0
    for event in events[:-1]:
        try:
            orjson.loads(event)
        except orjson.JSONDecodeError:
            broken += 1
    assert broken == 1 and events[-1] == "[DONE]"


def test_empty_content_fault(sim_factory: Callable[..., Any]) -> None:
    """The empty fault answers 200 with content "" and zero completion tokens."""
    sim = sim_factory(empty_content=1.0)
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    result = client.chat.completions.create(model="m", messages=MESSAGES)  # type: ignore[arg-type]
    assert result.choices[0].message.content == ""
    assert result.usage is not None and result.usage.completion_tokens == 0


def test_length_fault_truncates(sim_factory: Callable[..., Any]) -> None:
    """The length fault cuts the answer short and says finish_reason "length"."""
    full = sim_factory()
    cut = sim_factory(truncate_length=1.0)
    whole = _post(full).json()["choices"][0]["message"]["content"]
    choice = _post(cut).json()["choices"][0]
    assert choice["finish_reason"] == "length"
    assert whole.startswith(choice["message"]["content"])
    assert len(choice["message"]["content"]) < len(whole)


def test_slow_first_byte_outlasts_a_client_timeout(sim_factory: Callable[..., Any]) -> None:
    """A slow first byte makes a client with a short read timeout time out."""
    sim = sim_factory(slow_first_byte=1.0, slow_first_byte_seconds=3.0)
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        _post(sim, timeout=0.3)
    assert time.monotonic() - started < 2.0
    deadline = time.monotonic() + 2.0
    while sim.stats()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = sim.stats()
    assert stats["faults"] == {"slow_first_byte": 1}
    assert stats["in_flight"] == 0 and stats["disconnects"] == 1


def test_fault_rates_are_seeded_and_partial(sim_factory: Callable[..., Any]) -> None:
    """At rate 0.3 some but not all requests fail, identically for the same seed."""

    def statuses(sim: Any) -> list[int]:
        with httpx.Client(timeout=5.0) as client:
            return [
                client.post(f"{sim.base_url}/chat/completions", json=BODY).status_code
                for _ in range(40)
            ]

    first = statuses(sim_factory(error_500=0.3, seed=7))
    second = statuses(sim_factory(error_500=0.3, seed=7))
    assert first == second
    assert 0 < first.count(500) < 40
