"""The simulator's grounded dialogues: a user who reveals a MultiWOZ goal turn by turn.

When the dialogue prompt's parameters carry a `goal` (`dialogue.grounding: goals`), the
simulated dialogue spreads the goal's slots over the turns before the closing one, says
each value verbatim in the user's message, annotates the cumulative state after every
user message (`<State>` JSON) and closes right after the turn that completes the goal,
so the pipeline's grounding checks and the DST export are exercised on real answers.
"""

from __future__ import annotations

import json
import random
from typing import Any

_PHRASES = {
    "area": "in the {v}",
    "pricerange": "something {v}",
    "food": "{v} food",
    "bookpeople": "for {v} people",
    "bookday": "on {v}",
    "booktime": "at {v}",
    "leaveat": "leaving at {v}",
    "arriveby": "arriving by {v}",
    "booknights": "for {v} nights",
    "stars": "{v} stars",
    "departure": "from {v}",
    "destination": "to {v}",
    "type": "a {v}",
    "department": "the {v} department",
}
_LEADS = ("For the {s}, I'd like {p}.", "Could you find a {s} {p}?", "My {s}: {p}, please.")
_FILLERS = ("Let me think about what I need.", "Before that, is everything open today?")


def grounded_turns(
    goal: dict[str, dict[str, str]], count: int, rng: random.Random, reply: Any
) -> list[tuple[str, str, str, str]]:
    """(user, intent, state JSON, assistant) per turn: the goal revealed, then a closing."""
    items = [(s, slot, str(v)) for s, slots in goal.items() for slot, v in slots.items()]
    content = max(1, min(count - 1, len(items)))  # at most one slot-free turn: the closing
    chunks: list[list[tuple[str, str, str]]] = [[] for _ in range(content)]
    start = max(0, content - len(items))  # filler turns first, the goal's last slot last
    for position, item in enumerate(items):
        chunks[start + position * (content - start) // len(items)].append(item)
    state: dict[str, dict[str, str]] = {}
    turns = []
    for chunk in chunks:
        if not chunk:
            turns.append((rng.choice(_FILLERS), "chitchat", _dumps(state), reply(None)))
            continue
        by_service: dict[str, list[str]] = {}
        for service, slot, value in chunk:
            state.setdefault(service, {})[slot] = value
            phrase = _PHRASES.get(slot, slot + " {v}").format(v=value)
            by_service.setdefault(service, []).append(phrase)
        user = " ".join(
            rng.choice(_LEADS).format(s=service, p=" and ".join(phrases))
            for service, phrases in by_service.items()
        )
        intent = f"inform_{chunk[0][0]}"
        turns.append((user, intent, _dumps(state), reply(chunk[0][0])))
    if count > 1:
        turns.append(("That's everything, thank you!", "thank", _dumps(state), reply("close")))
    return turns


def _dumps(state: dict[str, dict[str, str]]) -> str:
    return json.dumps(state, ensure_ascii=False, sort_keys=True)
