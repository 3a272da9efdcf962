"""The outcomes real providers produce, each injected at rate 1 and read by the openai SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import openai
import orjson
import pytest

MESSAGES: Any = [{"role": "user", "content": "Name three bridges in Prague worth a walk."}]


def _client(sim: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_url, api_key="sk-sim", max_retries=0)


def _create(sim: Any, **extra: Any) -> Any:
    with _client(sim) as client:
        return client.chat.completions.create(model="m", messages=MESSAGES, **extra)


def _stream_text(sim: Any, **extra: Any) -> str:
    body = {"model": "m", "messages": MESSAGES, "stream": True, **extra}
    response = httpx.post(f"{sim.base_url}/chat/completions", json=body, timeout=5)
    assert response.status_code == 200
    return response.text


def test_insufficient_quota_never_clears(sim_factory: Callable[..., Any]) -> None:
    """429 insufficient_quota with OpenAI's body; every later request of that key too."""
    sim = sim_factory(insufficient_quota=1.0)
    for _ in range(3):
        with pytest.raises(openai.RateLimitError) as info:
            _create(sim)
        assert info.value.code == "insufficient_quota"
        assert info.value.type == "insufficient_quota"
        assert "exceeded your current quota" in info.value.message
    assert sim.stats()["faults"]["insufficient_quota"] == 3
    sim.reset_stats()


@pytest.mark.parametrize(
    ("profile", "status", "error", "shape"),
    [
        ("openai", 529, openai.InternalServerError, "error.type"),
        ("anthropic", 529, openai.InternalServerError, "anthropic"),
    ],
)
def test_overloaded_529_in_each_shape(
    sim_factory: Callable[..., Any], profile: str, status: int, error: Any, shape: str
) -> None:
    """529 overloaded_error: Anthropic's {"type": "error", "error": {...}} shape."""
    sim = sim_factory(profile=profile, overloaded_529=1.0)
    with pytest.raises(error) as info:
        _create(sim)
    assert info.value.status_code == status
    body = info.value.response.json()
    if shape == "anthropic":
        assert body == {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        }
    else:
        assert body["error"]["type"] == "overloaded_error"


def test_408_is_a_status_error(sim_factory: Callable[..., Any]) -> None:
    """408: the SDK raises APIStatusError with status 408."""
    sim = sim_factory(timeout_408=1.0)
    with pytest.raises(openai.APIStatusError) as info:
        _create(sim)
    assert info.value.status_code == 408


@pytest.mark.parametrize("status", [502, 520, 522, 524])
def test_cloudflare_pages_are_html(sim_factory: Callable[..., Any], status: int) -> None:
    """Cloudflare's HTML error pages: text/html, a title naming host, status and cause."""
    sim = sim_factory(**{f"cloudflare_{status}": 1.0})
    with pytest.raises(openai.InternalServerError) as info:
        _create(sim)
    response = info.value.response
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert f"<title>api.openai.com | {status}: " in response.text
    assert response.headers["x-request-id"]


def test_openrouter_error_inside_http_200(sim_factory: Callable[..., Any]) -> None:
    """HTTP 200 whose body is {"error": {"code": 502, ...}} (OpenRouter relaying upstream)."""
    sim = sim_factory(profile="openrouter", error_in_200=1.0)
    response = httpx.post(
        f"{sim.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES}, timeout=5
    )
    assert response.status_code == 200
    assert response.json() == {"error": {"code": 502, "message": "Provider returned error"}}


def test_content_filter_null_and_partial(sim_factory: Callable[..., Any]) -> None:
    """finish_reason content_filter with null content, and with part of the answer."""
    whole = _create(sim_factory()).choices[0].message.content
    null = _create(sim_factory(content_filter=1.0)).choices[0]
    assert null.finish_reason == "content_filter" and null.message.content is None
    partial = _create(sim_factory(content_filter_partial=1.0)).choices[0]
    assert partial.finish_reason == "content_filter"
    assert partial.message.content and whole.startswith(partial.message.content)
    assert len(partial.message.content) < len(whole)


def test_refusal_and_tool_calls_have_null_content(sim_factory: Callable[..., Any]) -> None:
    """A refusal sets message.refusal; a tool call sets tool_calls; content is null in both."""
    refused = _create(sim_factory(refusal=1.0)).choices[0].message
    assert refused.content is None and refused.refusal
    tool = _create(sim_factory(tool_calls=1.0)).choices[0]
    assert tool.finish_reason == "tool_calls" and tool.message.content is None
    assert tool.message.tool_calls and tool.message.tool_calls[0].function.name


def test_empty_choices_and_missing_usage(sim_factory: Callable[..., Any]) -> None:
    """choices: [] and an answer without usage, whole and streamed."""
    empty = _create(sim_factory(empty_choices=1.0))
    assert empty.choices == [] and empty.usage is not None
    sim = sim_factory(no_usage=1.0)
    assert _create(sim).usage is None
    text = _stream_text(sim, stream_options={"include_usage": True})
    assert '"usage"' not in text and text.endswith("data: [DONE]\n\n")


@pytest.mark.parametrize(
    ("profile", "marker"),
    [
        ("openai", 'data: {"error":{"message":'),
        ("openrouter", '"finish_reason":"error"'),
        ("anthropic", "event: error\ndata: "),
    ],
)
def test_mid_stream_error_events(
    sim_factory: Callable[..., Any], profile: str, marker: str
) -> None:
    """A stream ends with the provider's error event and no [DONE]; whole answers unaffected."""
    sim = sim_factory(profile=profile, stream_error=1.0)
    text = _stream_text(sim)
    assert marker in text and "[DONE]" not in text
    assert text.index(marker) > text.index('"content":"')  # mid-way, after some content
    assert _create(sim).choices[0].message.content  # stream faults are drawn for streams only


def test_openai_sdk_raises_on_a_mid_stream_error(sim_factory: Callable[..., Any]) -> None:
    """The SDK turns OpenAI's error event into an APIError while iterating."""
    sim = sim_factory(stream_error=1.0)
    with _client(sim) as client, pytest.raises(openai.APIError, match="server had an error"):
        for _ in client.chat.completions.create(model="m", messages=MESSAGES, stream=True):
            pass


def test_stream_cut_before_done(sim_factory: Callable[..., Any]) -> None:
    """A stream that ends cleanly but early: no finish_reason, no [DONE]."""
    text = _stream_text(sim_factory(stream_cut=1.0))
    events = [e for e in text.split("\n\n") if e]
    assert events and all(orjson.loads(e[6:])["choices"] for e in events)
    assert "[DONE]" not in text and '"finish_reason":"stop"' not in text
