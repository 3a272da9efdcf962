"""Goal-grounded service dialogues (`dialogue.grounding: goals`).

The base dialogue's MultiWOZ frames give the simulated user's goal (service → slot →
value, `multiwoz.dialogue_goal`). The dialogue call is asked to express every goal
value in the user's own words, to annotate the dialogue state after each user message
(`<State>` JSON, MultiWOZ 2.2 style, cumulative), and to end once the goal is met. This
module writes that instruction and checks the answer; a dialogue that breaks a rule is
re-asked like any format error, with the rule it broke:

- every turn carries a state;
- a value the state adds or changes at a turn appears in that turn's user message (so
  every annotated value appears in the text);
- by the end the state holds every goal slot with the goal's value;
- the dialogue ends at most one turn (the closing one) after the turn that met the goal.
"""

from __future__ import annotations

import json
import re

from asyncgen.dialogue.parse import DialogueFormatError, DialogueTurn

Goal = dict[str, dict[str, str]]


def grounding_instruction(goal: Goal) -> str:
    """The prompt's paragraph for a grounded dialogue."""
    return (
        "The user's goal (JSON, service -> slot -> value): "
        + json.dumps(goal, ensure_ascii=False, sort_keys=True)
        + "\nThe user reveals the goal over the conversation, one or two slots per message, "
        "writing each value exactly as given. After each <Intent>, write "
        "<State>JSON</State>: the dialogue state after that user message, service -> slot -> "
        "value, everything the user has asked for so far (copy the values from the user's "
        "words). End the conversation at most one turn after the goal is complete."
    )


def value_in(value: str, text: str) -> bool:
    """Whether `value` appears in `text` as whole words, ignoring case."""
    pattern = r"(?<![\w])" + re.escape(value.strip().lower()) + r"(?![\w])"
    return re.search(pattern, text.lower()) is not None


def goal_met_at(turns: list[DialogueTurn], goal: Goal) -> int | None:
    """The first turn (1-based) whose state holds every goal slot, or None."""
    for turn in turns:
        if turn.state is not None and _holds(turn.state, goal):
            return turn.turn_number
    return None


def check_grounding(turns: list[DialogueTurn], goal: Goal, raw: str) -> None:
    """Apply the grounding rules to a parsed dialogue.

    Raises:
        DialogueFormatError: the first rule broken, named so a re-ask can fix it.
    """
    before: dict[str, dict[str, str]] = {}
    for turn in turns:
        if turn.state is None:
            raise _invalid(f"turn {turn.turn_number} has no <State>", raw)
        for service, slots in turn.state.items():
            for slot, value in slots.items():
                if before.get(service, {}).get(slot) == value:
                    continue
                if not value_in(value, turn.user_utterance):
                    raise _invalid(
                        f"turn {turn.turn_number}: state {service}-{slot}={value!r} is not in "
                        "the user's message",
                        raw,
                    )
        before = turn.state
    missing = [
        f"{service}-{slot}={value}"
        for service, slots in goal.items()
        for slot, value in slots.items()
        if not _same(before.get(service, {}).get(slot), value)
    ]
    if missing:
        raise _invalid(f"goal slots never expressed: {', '.join(missing)}", raw)
    met = goal_met_at(turns, goal)
    if met is not None and len(turns) > met + 1:
        raise _invalid(
            f"the goal is met at turn {met} but the dialogue runs to turn {len(turns)}", raw
        )


def _holds(state: dict[str, dict[str, str]], goal: Goal) -> bool:
    return all(
        _same(state.get(service, {}).get(slot), value)
        for service, slots in goal.items()
        for slot, value in slots.items()
    )


def _same(found: str | None, wanted: str) -> bool:
    return found is not None and found.strip().lower() == wanted.strip().lower()


def _invalid(reason: str, raw: str) -> DialogueFormatError:
    return DialogueFormatError(f"invalid grounded dialogue: {reason}", raw=raw)
