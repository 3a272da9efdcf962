"""Strict requests as OpenAI validates them, and the request fields the simulator honours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import httpx
import openai
import pydantic
import pytest

MESSAGES: Any = [{"role": "user", "content": "Plan two days in Lisbon on a budget."}]


def _post(sim: Any, **body: Any) -> httpx.Response:
    payload = {"model": "m", "messages": MESSAGES, **body}
    return httpx.post(f"{sim.base_url}/chat/completions", json=payload, timeout=5)


@pytest.fixture(scope="module")
def strict_sim() -> Any:
    """One openai-profile simulator (strict by default) for the validation checks."""
    from asyncgen.sim import SimulatorProcess

    with SimulatorProcess(reasoning_models=["o3*"], context_window=4_000) as sim:
        yield sim


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"id": "row-1"}, None, "Unrecognized request argument supplied: id"),
        ({"temperature": 2.5}, "temperature", "Expected a value <= 2"),
        ({"top_p": -0.1}, "top_p", "Expected a value >= 0"),
        ({"presence_penalty": 3}, "presence_penalty", "decimal above maximum value"),
        ({"n": 0}, "n", "Invalid 'n'"),
        ({"top_logprobs": 3}, "top_logprobs", "'logprobs' must be set to true"),
        ({"model": "o3-mini", "max_tokens": 50}, "max_tokens", "Use 'max_completion_tokens'"),
        ({"model": "o3-mini", "temperature": 0.2}, "temperature", "Only the default (1)"),
    ],
)
def test_openai_refuses_what_openai_refuses(
    strict_sim: Any, body: dict[str, Any], param: str | None, message: str
) -> None:
    """400 invalid_request_error naming the param, with OpenAI's wording."""
    response = _post(strict_sim, **body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["message"] and error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert response.headers["x-request-id"]


def test_reasoning_models_take_max_completion_tokens(strict_sim: Any) -> None:
    """A reasoning model answers with max_completion_tokens."""
    response = _post(strict_sim, model="o3-mini", max_completion_tokens=5)
    assert response.status_code == 200
    assert response.json()["choices"][0]["finish_reason"] == "length"


def test_context_length_exceeded(strict_sim: Any) -> None:
    """A prompt plus max_tokens over the model's context: 400 context_length_exceeded."""
    client = openai.OpenAI(base_url=strict_sim.base_url, api_key="k", max_retries=0)
    long = [{"role": "user", "content": "word " * 3_500}]
    with client, pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="m", messages=long, max_tokens=1_000)  # type: ignore[arg-type]
    assert info.value.code == "context_length_exceeded"
    assert "maximum context length is 4000 tokens" in info.value.message


def test_lenient_profiles_ignore_unknown_fields(sim_factory: Callable[..., Any]) -> None:
    """vLLM (lenient) answers a body with fields OpenAI would refuse."""
    sim = sim_factory(profile="vllm")
    assert _post(sim, id="row-1", metadata={"row": 1}).status_code == 200
    assert sim_factory(strict=False).port  # strict can be switched off for any profile


def test_n_choices_differ_and_usage_adds_up(strict_sim: Any) -> None:
    """n=3: three choices, indexed, not all equal; completion tokens summed."""
    data = _post(strict_sim, n=3).json()
    choices = data["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    assert len({c["message"]["content"] for c in choices}) > 1
    single = _post(strict_sim).json()
    assert choices[0]["message"]["content"] == single["choices"][0]["message"]["content"]
    assert data["usage"]["completion_tokens"] > single["usage"]["completion_tokens"]


def test_stop_cuts_before_the_sequence(strict_sim: Any) -> None:
    """stop: the answer ends before the first stop sequence, finish_reason stop."""
    whole = _post(strict_sim).json()["choices"][0]["message"]["content"]
    word = whole.split()[3]
    cut = _post(strict_sim, stop=[word]).json()["choices"][0]
    assert cut["finish_reason"] == "stop"
    assert cut["message"]["content"] == whole[: whole.index(word)]


def test_logprobs_shape(strict_sim: Any) -> None:
    """logprobs + top_logprobs: OpenAI's content entries, read by the SDK."""
    client = openai.OpenAI(base_url=strict_sim.base_url, api_key="k", max_retries=0)
    with client:
        result = client.chat.completions.create(
            model="m", messages=MESSAGES, logprobs=True, top_logprobs=2
        )
    entries = result.choices[0].logprobs.content  # type: ignore[union-attr]
    assert entries and "".join(e.token for e in entries) == result.choices[0].message.content
    assert all(e.logprob <= 0 and len(e.top_logprobs) == 2 for e in entries)
    assert all(bytes(e.bytes or []) == e.token.encode() for e in entries)


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city", "days"],
        },
    },
}


def test_tools_get_a_tool_call_matching_the_schema(strict_sim: Any) -> None:
    """tools + tool_choice required: a tool call whose arguments fit the parameters."""
    client = openai.OpenAI(base_url=strict_sim.base_url, api_key="k", max_retries=0)
    with client:
        result = client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            tools=[WEATHER_TOOL],
            tool_choice="required",  # type: ignore[list-item]
        )
        none = client.chat.completions.create(
            model="m",
            messages=MESSAGES,
            tools=[WEATHER_TOOL],
            tool_choice="none",  # type: ignore[list-item]
        )
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    arguments = pydantic.TypeAdapter(dict[str, Any]).validate_json(call.function.arguments)  # type: ignore[union-attr]
    assert isinstance(arguments["city"], str) and arguments["days"] >= 1
    assert none.choices[0].message.content and not none.choices[0].message.tool_calls


class Itinerary(pydantic.BaseModel):
    """A structured answer the SDK validates."""

    city: str
    days: int
    pace: Literal["slow", "busy"]
    stops: list[str]


def test_json_schema_answers_validate(strict_sim: Any) -> None:
    """response_format json_schema: the SDK's parse() validates the answer."""
    client = openai.OpenAI(base_url=strict_sim.base_url, api_key="k", max_retries=0)
    with client:
        parsed = client.chat.completions.parse(
            model="m", messages=MESSAGES, response_format=Itinerary
        )
    itinerary = parsed.choices[0].message.parsed
    assert isinstance(itinerary, Itinerary) and itinerary.pace in ("slow", "busy")


def test_stream_usage_only_when_asked(strict_sim: Any) -> None:
    """A usage chunk only with stream_options.include_usage true."""
    plain = _post(strict_sim, stream=True).text
    asked = _post(strict_sim, stream=True, stream_options={"include_usage": True}).text
    assert '"usage"' not in plain and '"usage"' in asked
    assert plain.endswith("data: [DONE]\n\n") and asked.endswith("data: [DONE]\n\n")
