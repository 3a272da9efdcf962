"""The simulator's interaction responders: parseable, persona-aware, malformed on request."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from asyncgen.interaction.jsonout import MalformedOutputError, parse_object
from asyncgen.interaction.personas import profile_json
from asyncgen.prompts import load_prompt
from asyncgen.sim.responders import SimRequest, get_responder, known_kinds

KINDS = (
    "assistant",
    "user_feedback",
    "query_generation",
    "style_transfer",
    "intent_extraction",
    "semantic_noise",
)


def _feedback_prompt(features: dict[str, str], turn: int, must_continue: bool = False) -> str:
    state = {
        "current_turn": turn,
        "target_turns": 5,
        "min_turns": 2,
        "must_continue": must_continue,
    }
    return load_prompt("user_feedback").render(
        summary="someone",
        profile_json=profile_json(features),
        state_json=json.dumps(state),
        transcript="User: explain a slow SQL query with three joins",
        last_answer="Check the index on the join key.",
        current_turn=turn,
        target_turns=5,
        turn_rule="",
    )


def _ask(kind: str, prompt: str, seed: int, malformed_rate: float = 0.0) -> str:
    request = SimRequest(
        kind=kind,
        messages=[{"role": "user", "content": prompt}],
        model="m",
        max_tokens=None,
        rng=random.Random(seed),
        malformed_rate=malformed_rate,
    )
    return get_responder(kind)(request)


def test_every_interaction_kind_has_a_responder() -> None:
    """Each prompt kind the pipeline sends is answered specifically, not by generic prose."""
    assert set(KINDS) <= set(known_kinds())


@pytest.mark.parametrize(
    ("threshold", "low", "high"),
    [("easily satisfied", 0.7, 0.9), ("demanding", 0.05, 0.25), ("never fully satisfied", 0, 0)],
)
def test_satisfaction_follows_the_persona(threshold: str, low: float, high: float) -> None:
    """Easily satisfied users mostly stop, demanding ones rarely, some never."""
    features = {"satisfaction_threshold": threshold, "communication_style": "casual"}
    answers = [
        parse_object(_ask("user_feedback", _feedback_prompt(features, 2), seed))
        for seed in range(300)
    ]
    share = sum(a["satisfied"] for a in answers) / len(answers)
    assert low <= share <= high
    assert all(a["feedback"] for a in answers)


def test_moderate_users_warm_up_over_turns() -> None:
    """A moderate user is more often satisfied late than early."""
    features = {"satisfaction_threshold": "moderate"}

    def share(turn: int) -> float:
        answers = [
            parse_object(_ask("user_feedback", _feedback_prompt(features, turn), s))
            for s in range(300)
        ]
        return sum(a["satisfied"] for a in answers) / 300

    assert share(4) > share(1) + 0.2


def test_must_continue_is_obeyed() -> None:
    """Before min_turns the simulated user always follows up."""
    features = {"satisfaction_threshold": "easily satisfied"}
    for seed in range(100):
        data = parse_object(_ask("user_feedback", _feedback_prompt(features, 1, True), seed))
        assert data["satisfied"] is False and data["feedback"]


def test_malformed_rate_is_honoured() -> None:
    """At malformed_rate 0.5 about half the structured answers fail to parse."""
    features = {"satisfaction_threshold": "moderate"}
    bad = 0
    for seed in range(400):
        try:
            parse_object(
                _ask("user_feedback", _feedback_prompt(features, 2), seed, 0.5),
                required=("satisfied",),
            )
        except MalformedOutputError:
            bad += 1
    assert 0.4 < bad / 400 < 0.6


def test_queries_come_from_the_persona_domain_and_do_not_repeat() -> None:
    """query_generation writes the number asked for, distinct, in the persona's domain."""
    prompt = load_prompt("query_generation").render(
        num_queries=8,
        summary="a nurse",
        profile_json=profile_json({"domain": "healthcare"}),
        request_json=json.dumps({"num_queries": 8}),
        avoid="(none)",
    )
    queries: list[str] = parse_object(_ask("query_generation", prompt, 1))["queries"]
    assert len(queries) == 8 and len(set(queries)) == 8
    words = " ".join(queries).lower()
    assert any(w in words for w in ("patient", "medication", "ward", "discharge", "shift"))


def test_style_transfer_uses_the_persona_voice() -> None:
    """A lowercase, abbreviating persona gets a lowercase request with abbreviations."""
    features = {
        "communication_style": "casual",
        "capitalization_habit": "all lowercase",
        "language_habits": "uses abbreviations",
    }
    prompt = load_prompt("style_transfer").render(
        summary="x",
        profile_json=profile_json(features),
        query="Help me write a thank-you note with information about the gift, please.",
    )
    adapted: str = parse_object(_ask("style_transfer", prompt, 3))["adapted_query"]
    assert adapted == adapted.lower() and "pls" in adapted and "info" in adapted


def test_assistant_answers_in_the_preferred_format() -> None:
    """A persona preferring tables gets a markdown table; the topic words appear."""
    system = load_prompt("persona_system_prompt").render(
        summary="x", profile_json=profile_json({"preferred_format": "table", "domain": "finance"})
    )
    request = SimRequest(
        kind="assistant",
        messages=[
            {"role": "system", "content": system},
            {"role": "user", "content": "Compare index funds and ETFs for my savings"},
        ],
        model="m",
        max_tokens=None,
        rng=random.Random(0),
    )
    answer = get_responder("assistant")(request)
    assert "| step | what to do |" in answer
    assert any(w in answer.lower() for w in ("index", "funds", "etfs", "compare", "savings"))


def _semantic(strategies: list[str], seed: int) -> Any:
    prompt = load_prompt("semantic_noise").render(
        layer="incomplete_information",
        strategies=", ".join(strategies),
        strategy_guide="-",
        summary="x",
        profile_json="{}",
        request_json=json.dumps({"layer": "incomplete_information", "strategies": strategies}),
        intent_json="{}",
        text="Plan a delivery route for twelve stops before Friday's deadline.",
    )
    return parse_object(_ask("semantic_noise", prompt, seed))["noisy_text"]


def test_semantic_noise_changes_the_message_as_asked() -> None:
    """Truncation shortens the message; every rewrite differs from the clean text."""
    clean = "Plan a delivery route for twelve stops before Friday's deadline."
    truncated = _semantic(["truncated_request"], 0)
    assert truncated.endswith("...") and len(truncated) < len(clean)
    for seed in range(20):
        assert _semantic(["slot_omission"], seed) != clean
