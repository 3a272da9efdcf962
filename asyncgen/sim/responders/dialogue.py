"""Simulator responders for the dialogue prompt kinds: scenarios and tagged dialogues.

Both read the machine-readable parameters line of the prompt, so a simulated dialogue
honours the requested turn range, per-turn emotion arc and resolution. Content draws on
the persona, the scenario and the reference conversation in the prompt, plus a packaged
vocabulary (`asyncgen/data/sim_dialogue_vocab.json`), so thousands of dialogues stay
distinct under the semantic gate. At `request.malformed_rate` the dialogue responder
returns one of several realistic format defects, so validation and retries are exercised.
"""

from __future__ import annotations

import json
import random
import re
from functools import cache
from pathlib import Path
from typing import Any

from asyncgen.prompts import read_params
from asyncgen.sim.responders import SimRequest, responder
from asyncgen.sim.responders.contradiction import contradiction
from asyncgen.sim.responders.dialogue_goals import grounded_turns

VOCAB_PATH = Path(__file__).resolve().parents[2] / "data" / "sim_dialogue_vocab.json"
DEFECTS = ("unclosed", "no_intent", "preamble", "too_few", "too_many", "empty_user")
_SCENARIO_RE = re.compile(r"^Scenario: (.+)$", re.MULTILINE)
_BASE_USER_RE = re.compile(r"^USER: (.+)$", re.MULTILINE)
_PERSONA_RE = re.compile(r"perspective of this person: (.+)$", re.MULTILINE)


@cache
def vocab() -> dict[str, Any]:
    """The packaged word banks (loaded once per process)."""
    loaded: dict[str, Any] = json.loads(VOCAB_PATH.read_text(encoding="utf-8"))
    return loaded


USER_TONE: dict[str, list[str]] = vocab()["user_tone"]
ASSISTANT_TONE: dict[str, list[str]] = vocab()["assistant_tone"]
CLOSINGS: dict[str, list[str]] = vocab()["closings"]
USER_CLOSINGS: dict[str, list[str]] = vocab()["user_closings"]


def _arc(emotions: list[str], index: int, total: int) -> str:
    if not emotions:
        return "Composed"
    return emotions[min(index * len(emotions) // max(total, 1), len(emotions) - 1)]


def _clock(rng: random.Random) -> str:
    return f"{rng.randint(5, 22):02d}:{rng.choice(['05', '10', '20', '35', '40', '50'])}"


def _fill(text: str, rng: random.Random) -> str:
    return text.format(n=rng.randint(2, 8), t=_clock(rng))


def _join(lead: str, sentence: str) -> str:
    """A tone phrase, then the sentence, capitalised after a full stop."""
    if lead.endswith((".", "!", "?", ":")):
        sentence = sentence[:1].upper() + sentence[1:]
    return f"{lead} {sentence}"


@responder("dialogue_scenario")
def scenario(request: SimRequest) -> str:
    """Two lines grounded in the persona, naming category, services, region and time."""
    params = read_params(request.system)
    rng, words = request.rng, vocab()
    services = params.get("services") or ["hotel"]
    region = params.get("region", "the city")
    when = f"{params.get('time', '09:00')} ({params.get('time_slot', 'Morning')})"
    need = _fill(rng.choice(words["things"].get(services[0], words["things"]["hotel"])), rng)
    found = _PERSONA_RE.search(request.system)
    persona = found.group(1).strip().rstrip(".") if found else "a traveller"
    who = persona[:1].lower() + persona[1:]
    category = str(params.get("category", "general_inquiry")).replace("_", " ")
    return (
        f"In {region} at {when}, {who} needs {need} ({category}) across "
        f"{', '.join(services)}.\nThe difficulty is {rng.choice(words['twists'])}, and "
        f"{rng.choice(words['details'].get(services[0], words['details']['hotel']))}."
    )


@responder("dialogue_generation")
def dialogue(request: SimRequest) -> str:
    """A tagged dialogue within the turn range, following emotions and resolution."""
    params = read_params(request.system)
    rng = request.rng
    low = int(params.get("min_turns", 3))
    high = max(int(params.get("max_turns", 6)), low)
    count = rng.randint(low, high)
    defect = rng.choice(DEFECTS) if rng.random() < request.malformed_rate else None
    if defect == "too_few" and low <= 1:
        defect = "too_many"
    if defect == "too_few":
        count = low - 1
    elif defect == "too_many":
        count = high + 1
    context = _context(request, params)
    contradict = _contradiction_turn(request, count)
    if isinstance(params.get("goal"), dict) and params["goal"] and defect is None:
        return _render_grounded(params, context, min(count, high), rng, contradict)
    turns = [_turn(params, context, i, count, rng) for i in range(count)]
    if contradict is not None and contradict < len(turns):
        user, intent, reply = turns[contradict]
        turns[contradict] = (f"{user} {contradiction({}, rng)}", intent, reply)
    return _render(turns, defect, rng)


def _contradiction_turn(request: SimRequest, count: int) -> int | None:
    """The user turn that drops the persona (`sim.persona_contradiction_rate`), or None."""
    rate = request.contradiction_rate
    if not rate or request.rng.random() >= rate:
        return None
    return request.rng.randrange(max(1, count - 1))


def _render_grounded(
    params: dict[str, Any],
    context: dict[str, Any],
    count: int,
    rng: random.Random,
    contradict: int | None = None,
) -> str:
    """A goal-grounded dialogue (`dialogue_goals`), replies drawn as for any dialogue."""

    def reply(service: str | None) -> str:
        name = (
            service if service and service != "close" else (params.get("services") or ["hotel"])[0]
        )
        if service == "close":
            return "You're all set. Have a good day!"
        slots = _slots(params, name, rng)
        return str(rng.choice(vocab()["reply_lines"])).format(**slots)

    turns = grounded_turns(params["goal"], count, rng, reply)
    if contradict is not None and contradict < len(turns):
        user, intent, state, answer = turns[contradict]
        turns[contradict] = (f"{user} {contradiction({}, rng)}", intent, state, answer)
    return "\n\n".join(
        f"<User>{u}</User>\n<Intent>{i}</Intent>\n<State>{st}</State>\n<Assistant>{a}</Assistant>"
        for u, i, st, a in turns
    )


def _context(request: SimRequest, params: dict[str, Any]) -> dict[str, Any]:
    """What the prompt offers to ground the dialogue: scenario and reference lines."""
    found = _SCENARIO_RE.search(request.system)
    text = "\n".join(str(m.get("content", "")) for m in request.messages)
    return {
        "scenario": found.group(1).split(".")[0].strip() if found else "",
        "base_lines": _BASE_USER_RE.findall(text),
        "category": str(params.get("scenario_category", "general_inquiry")).replace("_", " "),
    }


def _slots(params: dict[str, Any], service: str, rng: random.Random) -> dict[str, Any]:
    words = vocab()
    return {
        "service": service,
        "region": (params.get("regions") or ["the city"])[0],
        "thing": _fill(rng.choice(words["things"].get(service, words["things"]["hotel"])), rng),
        "detail": rng.choice(words["details"].get(service, words["details"]["hotel"])),
        "landmark": rng.choice(words["landmarks"]),
        "name": rng.choice(words["names"]),
        "time": _clock(rng),
        "price": rng.randint(10, 400),
        "cur": rng.choice(["EUR", "USD", "GBP", "in local currency"]),
        "status": rng.choice(["available now", "with free cancellation", "pending confirmation"]),
        "k": rng.randint(2, 9),
    }


def _user_text(
    context: dict[str, Any], slots: dict[str, Any], index: int, rng: random.Random
) -> str:
    if index == 0 and context["scenario"]:
        return f"it's about {context['category']}: {context['scenario'].lower()}."
    if context["base_lines"] and rng.random() < 0.4:
        line = rng.choice(context["base_lines"])
        return f"similar to what I once asked: {line[:1].lower()}{line[1:]}"
    return str(rng.choice(vocab()["user_lines"])).format(**slots)


def _turn(
    params: dict[str, Any], context: dict[str, Any], index: int, total: int, rng: random.Random
) -> tuple[str, str, str]:
    services = params.get("services") or ["hotel"]
    service = services[index % len(services)]
    status = params.get("resolution_status", "Resolved")
    tone = rng.choice(USER_TONE.get(_arc(params.get("user_emotions") or [], index, total), ["Hi."]))
    helper = _arc(params.get("assistant_emotions") or [], index, total)
    style = rng.choice(ASSISTANT_TONE.get(helper, ["Certainly."]))
    slots = _slots(params, service, rng)
    if index == total - 1:
        ref = f"{slots['name'][:2].upper()}{rng.randint(1000, 9999)}"
        user = rng.choice(USER_CLOSINGS.get(status, USER_CLOSINGS["Resolved"]))
        closing = rng.choice(CLOSINGS.get(status, CLOSINGS["Resolved"]))
        return (
            _join(tone, user),
            f"close_{service}",
            _join(style, closing.format(ref=ref, region=slots["region"])),
        )
    user = _join(tone, _user_text(context, slots, index, rng))
    reply = _join(style, str(rng.choice(vocab()["reply_lines"])).format(**slots))
    return user, f"{rng.choice(vocab()['verbs'])}_{service}", reply


def _render(turns: list[tuple[str, str, str]], defect: str | None, rng: random.Random) -> str:
    blocks = [
        f"<User>{u}</User>\n<Intent>{i}</Intent>\n<Assistant>{a}</Assistant>" for u, i, a in turns
    ]
    if defect and blocks:
        spot = rng.randrange(len(blocks))
        if defect == "unclosed":
            blocks[spot] = blocks[spot].replace("</Assistant>", "", 1)
        elif defect == "no_intent":
            u, _, a = turns[spot]
            blocks[spot] = f"<User>{u}</User>\n<Assistant>{a}</Assistant>"
        elif defect == "empty_user":
            u, i, a = turns[spot]
            blocks[spot] = f"<User> </User>\n<Intent>{i}</Intent>\n<Assistant>{a}</Assistant>"
        elif defect == "preamble":
            return "Sure! Here is the dialogue you asked for:\n\n" + "\n\n".join(blocks)
    return "\n\n".join(blocks)
