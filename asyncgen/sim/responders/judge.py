"""Simulator responder for the LLM-as-judge prompt: JSON scores from 1 to 5."""

from __future__ import annotations

import json

from asyncgen.sim.responders import SimRequest, responder

_RATIONALES = (
    "The user stays in character and the assistant resolves the request.",
    "Mostly natural, though the user's follow-ups are a little generic.",
    "The persona shows in tone; the task is only partly resolved.",
    "Plausible exchange; the ending feels abrupt.",
)


@responder("judge")
def judge(request: SimRequest) -> str:
    """Scores that lean higher for longer conversations, varied by the request's RNG."""
    prompt = request.last_user
    turns = prompt.count("\nuser:") + prompt.count("\nUSER:")
    base = 3 if turns < 2 else 4
    rng = request.rng
    scores = {
        "persona_adherence": max(1, min(5, base + rng.choice((-1, 0, 0, 1)))),
        "naturalness": max(1, min(5, base + rng.choice((-1, 0, 1)))),
        "task_success": max(1, min(5, base + rng.choice((-1, 0, 0, 1)))),
        "rationale": rng.choice(_RATIONALES),
    }
    if rng.random() < request.malformed_rate:
        return "Scores: " + json.dumps(scores)[:-5]
    return json.dumps(scores)
