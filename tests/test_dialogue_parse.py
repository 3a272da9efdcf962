"""Strict parsing of tagged dialogues and per-turn emotion arcs."""

from __future__ import annotations

import pytest

from asyncgen.dialogue import assign_selected_emotions, process_generated_dialogue
from asyncgen.dialogue.parse import DialogueFormatError, emotion_for_turn


def _turn(user: str, intent: str, assistant: str) -> str:
    return f"<User>{user}</User>\n<Intent>{intent}</Intent>\n<Assistant>{assistant}</Assistant>"


GOOD = "\n\n".join(
    [
        _turn("I need a taxi at 7.", "book_taxi", "Booked for 07:00."),
        _turn("How much will it be?", "ask_fare", "About 12 pounds."),
        _turn("Thanks, that's all.", "close", "Have a good trip!"),
    ]
)


def test_valid_dialogue_parses_into_numbered_turns() -> None:
    """Each <User>/<Intent>/<Assistant> triple becomes one numbered turn."""
    turns = process_generated_dialogue(GOOD, 2, 5)
    assert [t.turn_number for t in turns] == [1, 2, 3]
    assert turns[1].user_utterance == "How much will it be?"
    assert turns[1].intent == "ask_fare"
    assert turns[2].assistant_response == "Have a good trip!"


def test_an_enclosing_code_fence_is_tolerated() -> None:
    """A model that wraps the whole dialogue in ``` still parses."""
    assert len(process_generated_dialogue(f"```xml\n{GOOD}\n```", 3, 3)) == 3


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Here you go:\n" + GOOD, "outside the turn tags"),
        (GOOD + "\nHope this helps!", "outside the turn tags"),
        (GOOD.replace("</Assistant>", "", 1), "turn 1: a tag inside <Assistant>"),
        (GOOD.replace("<Intent>ask_fare</Intent>\n", ""), "turn 2: a tag inside <User>"),
        (GOOD.replace("How much will it be?", "  "), "empty <User>"),
        (GOOD.replace("ask_fare", "ask <User> fare"), "a tag inside"),
        (GOOD.replace("ask_fare", "x" * 100), "not a short label"),
        ("USER: hi\nASSISTANT: hello", "no <User>/<Intent>/<Assistant> turn"),
    ],
)
def test_format_defects_are_rejected_with_the_raw_text(text: str, reason: str) -> None:
    """Every defect raises DialogueFormatError saying what is wrong and keeping the text."""
    with pytest.raises(DialogueFormatError, match=reason) as info:
        process_generated_dialogue(text, 1, 10)
    assert info.value.raw == text


def test_turn_count_outside_the_range_is_rejected() -> None:
    """Three turns are invalid when 4-6 were asked for, and when at most 2 were."""
    with pytest.raises(DialogueFormatError, match="3 turns, outside the requested 4-6"):
        process_generated_dialogue(GOOD, 4, 6)
    with pytest.raises(DialogueFormatError, match="outside the requested 1-2"):
        process_generated_dialogue(GOOD, 1, 2)


def test_emotions_form_an_arc_over_the_turns() -> None:
    """Two user emotions over six turns: the first three turns carry the first one."""
    turns = process_generated_dialogue("\n".join([_turn("a", "b", "c")] * 6), 1, 10)
    assign_selected_emotions(turns, ["Frustrated", "Grateful"], ["Patient"])
    assert [t.user_emotion for t in turns] == ["Frustrated"] * 3 + ["Grateful"] * 3
    assert {t.assistant_emotion for t in turns} == {"Patient"}
    assert turns[0].to_dict()["user_emotion"] == "Frustrated"


def test_every_emotion_is_used_when_turns_allow() -> None:
    """Each assigned emotion shows up on at least one turn when there are enough turns."""
    emotions = ["Angry", "Confused", "Hopeful"]
    for total in range(3, 15):
        assert {emotion_for_turn(emotions, i, total) for i in range(total)} == set(emotions)


def _parsed_or_error(parse: object, body: str) -> object:
    try:
        return parse(body)  # type: ignore[operator]
    except DialogueFormatError as exc:
        return str(exc)


def test_the_plain_parse_gives_the_regex_parse_wherever_it_answers() -> None:
    """The string-search fast path returns exactly the regex's turns, or leaves the text
    to the regex (which then gives the same turns or the same error), for texts with
    the odd spacing, tags, states and stray text a model writes."""
    import random

    from asyncgen.dialogue.parse import _matched_turns, _plain_turns

    pieces = [
        "<User>", "</User>", "<Intent>", "</Intent>", "<Assistant>", "</Assistant>",
        "<State>", "</State>", '{"taxi": {"leave": "7"}}', " ", "  ", "\n", "\t", "\u00a0",
        "\u2003", "a < b", "x", "book_taxi", "Hello there.", "<user>", "```",
    ]  # fmt: skip
    plain = ["", "", "", "", "", "", " two words", "\n"]
    rng = random.Random(5)
    answered = 0
    for _ in range(3000):
        turns = [
            _turn(rng.choice(plain + pieces) + "hi", "ask", "ok" + rng.choice(plain + pieces))
            for _ in range(rng.randint(1, 4))
        ]
        body = rng.choice(["\n", "\n\n", " ", ""]).join(turns)
        chars = list(body)
        for _ in range(rng.choice([0, 0, 0, 1, 2])):  # splice a piece anywhere
            chars.insert(rng.randint(0, len(chars)), rng.choice(pieces))
        body = "".join(chars)
        fast = _plain_turns(body)
        slow = _parsed_or_error(lambda b: _matched_turns(b, b), body)
        if fast is not None:
            answered += 1
            assert fast == slow, body
    assert answered > 300  # the fast path is the common one
