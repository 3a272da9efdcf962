"""What the simulator says: seeded per request, duplicates by kind, JSON when asked."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Literal

import openai
import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from asyncgen.sim.content import Answerer
from asyncgen.sim.responders import SimRequest, get_responder, known_kinds
from asyncgen.sim.schema_fill import fill_schema

MESSAGES = [
    {"role": "system", "content": "You are a retired marine biologist who loves detail."},
    {"role": "user", "content": "How do I plan a budget trip to Lisbon in spring?"},
]


class Stop(BaseModel):
    """A nested model, so the schema has $defs and $ref."""

    city: str = Field(min_length=3)
    nights: int = Field(ge=1, le=5)


class Itinerary(BaseModel):
    """A structured-output schema like a pipeline would send."""

    title: str
    mood: Literal["calm", "busy", "mixed"]
    stops: list[Stop] = Field(min_length=1)
    budget: float | None = Field(default=None, ge=0)
    confirmed: bool


def _answer(answerer: Answerer, messages: list[dict[str, Any]], kind: str = "generic") -> str:
    return answerer.answer(kind, messages, model="m", max_tokens=None, params={}).content


def test_generic_prose_uses_the_topic_and_persona() -> None:
    """Unknown kinds get prose about the user's topic, often in the persona's terms."""
    texts = [
        get_responder("no-such-kind")(
            SimRequest("no-such-kind", MESSAGES, "m", None, random.Random(seed))
        )
        for seed in range(20)
    ]
    assert all("lisbon" in t.lower() for t in texts)
    assert any("retired marine biologist" in t for t in texts)
    assert len(set(texts)) >= 15
    assert "generic" in known_kinds()


def test_same_messages_same_answer_other_seed_other_answer() -> None:
    """Answers are a pure function of (seed, kind, messages)."""
    one, same, other = (Answerer(seed=s, duplicate_rate=0, malformed_rate=0) for s in (1, 1, 2))
    assert _answer(one, MESSAGES) == _answer(same, MESSAGES)
    assert _answer(one, MESSAGES) != _answer(other, MESSAGES)
    assert _answer(one, MESSAGES, "generic") != _answer(one, MESSAGES, "other-kind")


def test_duplicates_do_not_depend_on_arrival_order() -> None:
    """Given the same earlier requests in any order, a duplicate repeats the same answer."""
    earlier = [[{"role": "user", "content": f"earlier question {i}"}] for i in range(30)]
    probes = [[{"role": "user", "content": f"probe {i}"}] for i in range(30)]

    def run(order: list[list[dict[str, Any]]]) -> list[str]:
        answerer = Answerer(seed=0, duplicate_rate=0.5, malformed_rate=0)
        for messages in order:
            _answer(answerer, messages)
        return [_answer(answerer, p) for p in probes]

    forward = run(earlier)
    assert forward == run(list(reversed(earlier)))
    earlier_texts = {
        _answer(Answerer(seed=0, duplicate_rate=0, malformed_rate=0), m) for m in earlier
    }
    repeated = [text for text in forward if text in earlier_texts]
    assert 5 <= len(repeated) <= 25


def test_duplicates_stay_within_their_kind() -> None:
    """A duplicate repeats an answer of its own kind, never another kind's."""
    answerer = Answerer(seed=0, duplicate_rate=0.5, malformed_rate=0)
    given: dict[str, list[str]] = {"kind-a": [], "kind-b": []}
    repeats = 0
    for i in range(40):
        for kind, texts in given.items():
            answer = answerer.answer(
                kind,
                [{"role": "user", "content": f"{kind} q{i}"}],
                model="m",
                max_tokens=None,
                params={},
            )
            if answer.is_duplicate:
                repeats += 1
                assert answer.content in texts
            texts.append(answer.content)
    assert repeats > 10
    assert not set(given["kind-a"]) & set(given["kind-b"])


def test_memory_is_bounded_per_kind() -> None:
    """The duplicate memory keeps at most `memory` answers per kind."""
    answerer = Answerer(seed=0, duplicate_rate=0.01, malformed_rate=0, memory=16)
    for i in range(200):
        _answer(answerer, [{"role": "user", "content": f"q{i}"}])
    assert len(answerer._kinds["generic"].keys) == 16


def test_max_tokens_cuts_with_length() -> None:
    """An answer longer than max_tokens is cut to it and says "length"."""
    answerer = Answerer(seed=0, duplicate_rate=0, malformed_rate=0)
    answer = answerer.answer("generic", MESSAGES, model="m", max_tokens=5, params={})
    assert answer.finish_reason == "length" and answer.completion_tokens == 5


def test_json_schema_answers_validate_against_the_model() -> None:
    """A pydantic model's JSON Schema gets answers that the model accepts."""
    schema = Itinerary.model_json_schema()
    for seed in range(50):
        value = fill_schema(schema, random.Random(seed))
        Itinerary.model_validate(value)


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2**32))
def test_json_object_format_gets_a_json_object(seed: int) -> None:
    """response_format json_object: the generic answer parses as a JSON object."""
    request = SimRequest(
        "generic",
        MESSAGES,
        "m",
        None,
        random.Random(seed),
        params={"response_format": {"type": "json_object"}},
    )
    assert isinstance(orjson.loads(get_responder("generic")(request)), dict)


def test_sdk_structured_output_parses(sim_factory: Callable[..., Any]) -> None:
    """The openai SDK's parse() with a pydantic model gets a valid object from the simulator."""
    sim = sim_factory()
    client = openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0)
    result = client.chat.completions.parse(
        model="m",
        messages=MESSAGES,
        response_format=Itinerary,  # type: ignore[arg-type]
    )
    parsed = result.choices[0].message.parsed
    assert isinstance(parsed, Itinerary) and parsed.stops
