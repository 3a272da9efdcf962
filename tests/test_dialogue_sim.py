"""The simulator's dialogue responders answer the prompts the pipeline really sends."""

from __future__ import annotations

import random

import pytest

from asyncgen.config import load_config
from asyncgen.dialogue import DialoguePipeline, process_generated_dialogue
from asyncgen.dialogue.parse import DialogueFormatError, emotion_for_turn
from asyncgen.dialogue.plan import DialoguePlan
from asyncgen.dialogue.prompting import dialogue_messages, scenario_messages
from asyncgen.sim.responders import SimRequest, get_responder
from asyncgen.sim.responders.dialogue import CLOSINGS, USER_TONE

PIPELINE = DialoguePipeline(load_config(environ={}, env_file=None))


def _ask(kind: str, messages: list[dict[str, str]], seed: int, malformed: float = 0.0) -> str:
    request = SimRequest(kind, messages, "sim-model", None, random.Random(seed), malformed)
    return get_responder(kind)(request)


def _payload(index: int) -> DialoguePlan:
    return PIPELINE.plan_item(index).payload


def test_scenario_names_region_time_and_services() -> None:
    """A simulated scenario mentions the planned region, time and services."""
    payload = _payload(2)
    text = _ask("dialogue_scenario", scenario_messages(payload, "A nurse in Lima."), 1)
    assert payload.regions[0] in text and payload.time in text
    assert all(service in text for service in payload.services)
    assert 2 <= len(text.splitlines()) <= 3


@pytest.mark.parametrize("index", range(0, 40, 3))
def test_dialogue_honours_range_emotions_and_resolution(index: int) -> None:
    """Turn count within range, each turn in its planned emotion, the ending per status."""
    payload = _payload(index)
    gen = payload.generation_params
    text = _ask("dialogue_generation", dialogue_messages(payload, "A scenario.", "USER: hi"), index)
    turns = process_generated_dialogue(text, gen.min_turns, gen.max_turns)
    for i, turn in enumerate(turns):
        emotion = emotion_for_turn(payload.user_emotions, i, len(turns))
        assert any(turn.user_utterance.startswith(p) for p in USER_TONE[emotion])
    ending = turns[-1].assistant_response
    endings = CLOSINGS[payload.resolution_status]
    assert any(e.split("{")[0][:30] in ending for e in endings)


def test_dialogues_vary_between_requests() -> None:
    """Different items get different dialogues (no canned answer)."""
    texts = {
        _ask("dialogue_generation", dialogue_messages(_payload(i), "S.", "USER: hi"), i)
        for i in range(20)
    }
    assert len(texts) == 20


def test_malformed_rate_one_always_breaks_the_format_and_zero_never() -> None:
    """At malformed_rate 1 every answer fails validation; at 0 none does."""
    for seed in range(25):
        payload = _payload(seed)
        gen = payload.generation_params
        messages = dialogue_messages(payload, "S.", "USER: hi")
        good = _ask("dialogue_generation", messages, seed, malformed=0.0)
        process_generated_dialogue(good, gen.min_turns, gen.max_turns)
        bad = _ask("dialogue_generation", messages, seed, malformed=1.0)
        with pytest.raises(DialogueFormatError):
            process_generated_dialogue(bad, gen.min_turns, gen.max_turns)


def test_simulator_reads_the_same_parameters_the_pipeline_writes() -> None:
    """The responder reads a real rendered prompt's parameters line with the one parser
    (asyncgen.prompts), and finds the plan's values in it."""
    from asyncgen.prompts import read_params
    from asyncgen.sim.responders import dialogue as responder

    assert responder.read_params is read_params
    payload = _payload(5)
    for messages in (
        scenario_messages(payload, "A pilot."),
        dialogue_messages(payload, "S.", "USER: hi"),
    ):
        params = read_params(messages[0]["content"])
        assert params["services"] == list(payload.services)
