"""Simulator responder for the in-run judge: scores that follow what the text shows.

The judge gate must be tested on what it has to catch, so the simulated judge reads the
conversation in its prompt and scores measurable properties, never a hidden flag:

- persona_adherence 1 when a user turn carries a persona contradiction (the marker
  sentence `sim.persona_contradiction_rate` injects, found fuzzily), else 4-5;
- naturalness down 2 for a repeated turn and 2 for a cut-off assistant turn (it ends
  mid-sentence);
- task_success 2 when the conversation ends on an unanswered or empty turn;
- goal_completion 1 + 4 × the share of the goal's values found in the text.
"""

from __future__ import annotations

import json
import re
from typing import Any

from asyncgen.prompts import json_after
from asyncgen.sim.responders import SimRequest, responder
from asyncgen.sim.responders.contradiction import has_contradiction

_ENDINGS = tuple(".!?)]`|\"'*:>")
_TURN = re.compile(r"^(user|assistant): ?(.*)$")


@responder("quality_judge")
def quality_judge(request: SimRequest) -> str:
    """JSON scores for the prompt's rubric criteria, from the conversation's properties."""
    prompt = request.last_user
    rubric = json_after(prompt, "Rubric (JSON):") or ["persona_adherence", "naturalness"]
    goal = json_after(prompt, "User goal (JSON):")
    turns = [
        (m.group(1), m.group(2)) for line in prompt.splitlines() if (m := _TURN.match(line.strip()))
    ]
    rng = request.rng
    found = _properties(turns, goal if isinstance(goal, dict) else None)
    scores: dict[str, Any] = {}
    for name in rubric:
        base = {
            "persona_adherence": 1 if found["contradiction"] else 5,
            "naturalness": 5 - 2 * found["repeated"] - 2 * found["truncated"],
            "task_success": 2 if found["unanswered"] else 5,
            "goal_completion": 1 + round(4 * found["goal_share"]),
        }.get(name, 4)
        if base >= 4:
            base -= rng.choice((0, 0, 0, 1))  # a judge's ordinary spread among good records
        scores[str(name)] = max(1, min(5, base))
    scores["rationale"] = _rationale(found)
    if rng.random() < request.malformed_rate:
        return "Scores: " + json.dumps(scores)[:-5]
    return json.dumps(scores)


def _properties(turns: list[tuple[str, str]], goal: dict[str, Any] | None) -> dict[str, Any]:
    users = [text for role, text in turns if role == "user"]
    assistants = [text for role, text in turns if role == "assistant"]
    seen: set[str] = set()
    repeated = False
    for role, text in turns:
        key = f"{role}:{' '.join(text.lower().split())}"
        repeated = repeated or (key in seen and len(key) > 12)
        seen.add(key)
    truncated = any(t.strip() and not t.strip().endswith(_ENDINGS) for t in assistants)
    unanswered = not turns or turns[-1][0] != "assistant" or any(not t.strip() for t in assistants)
    text = " ".join(text for _, text in turns).lower()
    values = _goal_values(goal) if goal else []
    share = sum(1 for v in values if v.lower() in text) / len(values) if values else 1.0
    return {
        "contradiction": any(has_contradiction(u) for u in users),
        "repeated": repeated,
        "truncated": truncated,
        "unanswered": unanswered,
        "goal_share": share,
    }


def _goal_values(goal: dict[str, Any]) -> list[str]:
    """The informable values of a goal (service → slot → value, or its `constraints`)."""
    values: list[str] = []
    for service in goal.values():
        if not isinstance(service, dict):
            continue
        slots = service.get("constraints", service)
        if isinstance(slots, dict):
            values += [str(v) for v in slots.values() if isinstance(v, str | int) and str(v)]
    return values


def _rationale(found: dict[str, Any]) -> str:
    if found["contradiction"]:
        return "The user contradicts the persona it was given."
    if found["repeated"] or found["truncated"]:
        return "A turn is repeated or cut off mid-sentence."
    if found["unanswered"]:
        return "The conversation ends before the request is handled."
    if found["goal_share"] < 1:
        return "Part of the user's goal is never expressed or met."
    return "In character, natural, and the request is handled."
