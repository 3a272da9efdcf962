"""Chat messages for the two dialogue calls, rendered from the packaged templates.

A template holds the system prompt, then a line `[user]`, then the user prompt. Each
carries its parameters as one JSON line too, so the simulator (and any log reader) can
see exactly what was asked.
"""

from __future__ import annotations

import json

from asyncgen.dialogue.grounding import grounding_instruction
from asyncgen.dialogue.plan import DialoguePlan
from asyncgen.jsontypes import JsonObject
from asyncgen.llm.types import Message
from asyncgen.prompts import load_prompt

USER_MARKER = "\n[user]\n"
SCENARIO_PROMPT = "dialogue_scenario"
DIALOGUE_PROMPT = "dialogue_generation"

RESOLUTION_INSTRUCTIONS = {
    "Resolved": "the assistant fully resolves the user's request by the end, and the user "
    "confirms it is sorted.",
    "Failed": "the request cannot be fulfilled; the conversation ends without a solution, "
    "the assistant explaining why and what the user could try instead.",
    "Escalated": "the assistant cannot settle it alone and hands it over to a human agent, "
    "supervisor or specialist team by the end, saying what happens next.",
}


def resolution_instruction(status: str) -> str:
    """What a resolution status asks of the dialogue's ending."""
    return RESOLUTION_INSTRUCTIONS.get(
        status, f"the conversation ends with the status {status!r}, made clear in the last turn."
    )


def split_messages(text: str) -> list[Message]:
    """System and user messages from a rendered template."""
    system, marker, user = text.partition(USER_MARKER)
    if not marker:
        return [{"role": "user", "content": text.strip()}]
    return [
        {"role": "system", "content": system.strip()},
        {"role": "user", "content": user.strip()},
    ]


def scenario_messages(plan: DialoguePlan, persona: str) -> list[Message]:
    """Messages of the scenario call (the report's `generate_dynamic_scenario`)."""
    params = {
        "category": plan.scenario_category,
        "services": list(plan.services),
        "region": plan.regions[0],
        "time_slot": plan.time_slot,
        "time": plan.time,
    }
    text = load_prompt(SCENARIO_PROMPT).render(
        category=params["category"],
        services=", ".join(plan.services),
        persona=persona,
        region=params["region"],
        time=params["time"],
        time_slot=params["time_slot"],
        params=json.dumps(params, ensure_ascii=False),
    )
    return split_messages(text)


def dialogue_messages(plan: DialoguePlan, scenario: str, base: str) -> list[Message]:
    """Messages of the dialogue call (the report's `generate_dialogue` prompts)."""
    gen = plan.generation_params
    status = plan.resolution_status
    params: JsonObject = {
        "services": list(plan.services),
        "min_turns": gen.min_turns,
        "max_turns": gen.max_turns,
        "user_emotions": list(plan.user_emotions),
        "assistant_emotions": list(plan.assistant_emotions),
        "resolution_status": status,
        "scenario_category": plan.scenario_category,
        "regions": list(plan.regions),
        "time": plan.time,
    }
    goal = plan.goal
    if goal:
        params["goal"] = {service: dict(slots) for service, slots in goal.items()}
    text = load_prompt(DIALOGUE_PROMPT).render(
        grounding=grounding_instruction(goal) if goal else "",
        services=", ".join(plan.services),
        scenario=scenario,
        regions=", ".join(plan.regions),
        user_emotions=" → ".join(plan.user_emotions),
        assistant_emotions=" → ".join(plan.assistant_emotions),
        min_turns=gen.min_turns,
        max_turns=gen.max_turns,
        resolution_status=status,
        resolution_instruction=resolution_instruction(status),
        base_conversation=base,
        params=json.dumps(params, ensure_ascii=False),
    )
    return split_messages(text)


def repair_messages(raw: str, error: Exception) -> list[Message]:
    """After an invalid answer: show it to the model and say what to fix (an empty answer
    is not shown: the request is simply asked again)."""
    if not raw:
        return []
    return [
        {"role": "assistant", "content": raw},
        {
            "role": "user",
            "content": f"That answer cannot be used: {error}. Write the whole dialogue again, "
            "every turn exactly as <User>…</User>, <Intent>…</Intent>, <Assistant>…</Assistant>, "
            "within the requested number of turns, with nothing before or after.",
        },
    ]
