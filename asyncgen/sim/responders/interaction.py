"""Simulator responders for the interaction prompt kinds.

Each answers in the format its parser expects (JSON where the pipeline parses JSON),
reads the persona from the prompt's `User profile (JSON):` line so content follows the
persona (domain, voice, format, patience), draws everything from `request.rng`, and at
`request.malformed_rate` answers with deliberately broken JSON.
"""

from __future__ import annotations

import random
import re
from typing import Any

import orjson

from asyncgen.prompts import json_after
from asyncgen.sim.responders import SimRequest, responder
from asyncgen.sim.responders.contradiction import contradiction
from asyncgen.sim.responders.interaction_words import (
    ADVICE,
    ASPECTS,
    CLOSINGS,
    CONTEXTS,
    DOMAIN_TERMS,
    FOLLOWUPS,
    LEADS,
    LINKS,
    OPENERS,
    QUALIFIERS,
    TASKS,
    TOPICS,
    VERBS,
)

PROFILE_LABEL = "User profile (JSON):"
STATE_LABEL = "Conversation state (JSON):"
NOISE_LABEL = "Noise request (JSON):"
QUERY_LABEL = "Query request (JSON):"
STOPWORDS = frozenset(
    "about after again also because before being could does doing from have here into just "
    "like make more most need only other over please should some such than that their them "
    "then there these they this those through very want what when where which while with "
    "would your help give show tell write explain kindly context thank thanks works already "
    "breaking common mistakes steps plan compare draft review suggest improvements "
    "prioritise checklist practices summarise handle deadline could would appreciate "
    "hey basically actually kinda".split()
)

FOLLOWUP_SHIFT = {
    "rarely follows up": 0.15,
    "follows up often": -0.1,
    "drills down relentlessly": -0.2,
}
SATISFACTION = {
    "easily satisfied": 0.8,
    "moderate": 0.4,
    "demanding": 0.15,
    "never fully satisfied": 0.0,
}


def _prompt(request: SimRequest) -> str:
    """The original prompt (the first user message, before any repair turns)."""
    users = [str(m.get("content", "")) for m in request.messages if m.get("role") == "user"]
    return users[0] if users else ""


def _labelled(text: str, label: str) -> dict[str, Any]:
    data = json_after(text, label)
    return data if isinstance(data, dict) else {}


def _profile(request: SimRequest) -> dict[str, str]:
    for message in request.messages:
        found = _labelled(str(message.get("content", "")), PROFILE_LABEL)
        if found:
            return {str(k): str(v) for k, v in found.items()}
    return {}


def _after(text: str, label: str) -> str:
    for line in text.splitlines():
        if line.startswith(label):
            return line[len(label) :].strip()
    return ""


def _keywords(text: str, rng: random.Random, k: int = 2) -> list[str]:
    text = re.split(r"for context", text, maxsplit=1, flags=re.IGNORECASE)[0]  # the request only
    words = [w for w in re.findall(r"[A-Za-z][A-Za-z\-]{4,}", text) if w.lower() not in STOPWORDS]
    unique = list(dict.fromkeys(w.lower() for w in words)) or ["this"]
    return rng.sample(unique, min(k, len(unique)))


def _json(data: dict[str, Any], request: SimRequest) -> str:
    """Valid JSON, or at `malformed_rate` a broken variant of it."""
    text = orjson.dumps(data).decode()
    if request.malformed_rate > 0 and request.rng.random() < request.malformed_rate:
        return request.rng.choice(
            (
                text[: max(1, len(text) // 2)],
                "Sure! Here is my answer: " + text.replace('"', "'"),
                text.replace(":", " =", 1),
                "I think the user would say: " + str(next(iter(data.values()), "")),
            )
        )
    return text


def _voice(profile: dict[str, str]) -> str:
    style = profile.get("communication_style", "")
    if profile.get("patience") == "impatient" and style != "chatty":
        return "impatient"
    if style in ("casual", "direct"):
        return "casual"
    if style in ("formal", "polite"):
        return "formal"
    return style if style in FOLLOWUPS else "casual"


def _stylise(text: str, profile: dict[str, str], rng: random.Random) -> str:
    """A request rewritten in the persona's voice (length, tone, habits)."""
    style = profile.get("communication_style", "")
    length = profile.get("query_length_preference", "medium")
    out = text.rstrip(". ")
    if length == "very short":
        out = " ".join(out.split()[:7])
    if style in ("casual", "chatty", "direct"):
        out = rng.choice(("hey, ", "hi! ", "", "so ")) + out[0].lower() + out[1:]
        out = out.replace("Help me", "can u help me").replace("you", "u")
    elif style in ("formal", "polite"):
        out = f"{rng.choice(('Could you please', 'Would you kindly', 'I would appreciate it if you could'))} {out[0].lower()}{out[1:]}? Thank you."  # noqa: E501
    elif style == "terse":
        out = " ".join(w for w in out.split() if w.lower() not in {"the", "a", "for", "me", "my"})
    if length == "long":
        role = profile.get("role", "professional")
        out = (
            out.rstrip(". ") + f". For context, I'm a {role} and I need this {rng.choice(CONTEXTS)}"
        )
    return _habits(out, profile, rng)


def _habits(text: str, profile: dict[str, str], rng: random.Random) -> str:
    habit = profile.get("language_habits", "")
    if habit == "uses abbreviations":
        for long, short in (
            ("please", "pls"),
            ("with", "w/"),
            ("information", "info"),
            ("thanks", "thx"),
        ):
            text = text.replace(long, short)
    elif habit == "uses emoji":
        text += rng.choice((" 🙏", " 😅", " 👍", " 🤔"))
    elif habit == "uses filler words":
        text = rng.choice(("so basically ", "um, ", "like, ")) + text
    elif habit == "uses slang":
        text += rng.choice((" tbh", ", no cap", " lol"))
    if profile.get("capitalization_habit") == "all lowercase":
        text = text.lower()
    if profile.get("punctuation_habit") == "none":
        text = re.sub(r"[.,!?;:]", "", text)
    return text


@responder("query_generation")
def query_generation(request: SimRequest) -> str:
    """JSON `{queries: [...]}`: distinct requests drawn from the persona's domain."""
    prompt, rng = _prompt(request), request.rng
    profile = _profile(request)
    wanted = int(_labelled(prompt, QUERY_LABEL).get("num_queries", 5) or 5)
    avoid = _after(prompt, "Do not repeat any of these earlier requests:").lower()
    topics = list(TOPICS.get(profile.get("domain", ""), TOPICS["personal life"]))
    fresh = [t for t in topics if t.lower() not in avoid] or topics
    rng.shuffle(fresh)
    queries = []
    for i in range(wanted):
        topic = rng.choice(ASPECTS) + fresh[i % len(fresh)]
        task = rng.choice(TASKS).format(t=topic)
        queries.append(f"{task} {rng.choice(CONTEXTS)}.")
    return _json({"queries": queries}, request)


@responder("style_transfer")
def style_transfer(request: SimRequest) -> str:
    """JSON `{adapted_query}`: the request in the persona's voice."""
    query = _after(_prompt(request), "Request:") or "help me with this"
    return _json({"adapted_query": _stylise(query, _profile(request), request.rng)}, request)


@responder("assistant")
def assistant(request: SimRequest) -> str:
    """Prose that follows the persona's preferred format, tone and expertise."""
    profile, rng = _profile(request), request.rng
    users = [str(m.get("content", "")) for m in request.messages if m.get("role") == "user"]
    topic = _keywords(users[0] if users else "", rng, 3)
    keywords = list(dict.fromkeys(topic + _keywords(request.last_user, rng, 1)))
    opener = rng.choice(OPENERS.get(profile.get("tone_preference", ""), OPENERS["neutral"]))
    level = {
        "novice": "In plain terms: ",
        "expert": "Skipping the basics: ",
        "advanced": "At a practical level: ",
    }
    terms = DOMAIN_TERMS.get(profile.get("domain", ""), ()) or tuple(keywords)
    points = [_point(rng.choice(keywords), terms, rng) for _ in range(rng.randint(2, 4))]
    if rng.random() < 0.3:
        points.insert(rng.randrange(len(points)), rng.choice(ADVICE).format(kw=keywords[0]))
    body = _format(points, profile.get("preferred_format", ""), keywords, rng)
    close = rng.choice(("", " Want me to go deeper on any step?", " Let me know if that fits."))
    return f"{opener} {level.get(profile.get('expertise', ''), '')}{body}{close}".strip()


def _point(keyword: str, terms: tuple[str, ...], rng: random.Random) -> str:
    """One piece of advice built from the topic word and a domain term."""
    parts = (rng.choice(LEADS), rng.choice(VERBS), "the", rng.choice(terms), rng.choice(LINKS))
    return " ".join(parts) + f" {keyword} {rng.choice(QUALIFIERS)}."


def _format(points: list[str], style: str, keywords: list[str], rng: random.Random) -> str:
    if style in ("step-by-step list", "bullet points"):
        mark = "1." if style.startswith("step") else "-"
        return "\n" + "\n".join(f"{mark} {p}" for p in points) + "\n"
    if style == "code first":
        name = re.sub(r"\W", "_", keywords[0].lower())
        code = f"```python\ndef handle_{name}(items):\n    return [i for i in items if i]\n```"
        return f"\n{code}\n" + " ".join(points)
    if style == "table":
        rows = "\n".join(f"| {i + 1} | {p} |" for i, p in enumerate(points))
        return f"\n| step | what to do |\n|---|---|\n{rows}\n"
    return " ".join(points) + f" (about {rng.randint(2, 9)} minutes of work)"


@responder("user_feedback")
def user_feedback(request: SimRequest) -> str:
    """JSON `{satisfied, feedback}`: some users satisfied early, some late, some never."""
    prompt, rng = _prompt(request), request.rng
    profile = _profile(request)
    state = _labelled(prompt, STATE_LABEL)
    turn = int(state.get("current_turn", 1) or 1)
    chance = SATISFACTION.get(profile.get("satisfaction_threshold", ""), 0.4)
    if profile.get("satisfaction_threshold") == "moderate":
        chance = min(0.9, chance + 0.15 * (turn - 1))  # warms up over the conversation
    if chance > 0:  # a "never fully satisfied" user stays so whatever their habits
        shift = FOLLOWUP_SHIFT.get(profile.get("followup_tendency", ""), 0.0)
        chance = min(0.95, max(0.02, chance + shift))
    satisfied = not state.get("must_continue") and rng.random() < chance
    if satisfied:
        return _json({"satisfied": True, "feedback": rng.choice(CLOSINGS)}, request)
    first_user = _after(_after_block(prompt, "The conversation so far:").strip(), "User:")
    keyword = _keywords(first_user or prompt, rng, 1)[0]
    followup = rng.choice(FOLLOWUPS[_voice(profile)]).format(kw=keyword)
    feedback = _habits(followup, profile, rng)
    if request.contradiction_rate and rng.random() < request.contradiction_rate:
        feedback = f"{feedback} {contradiction(profile, rng)}"
    return _json({"satisfied": False, "feedback": feedback}, request)


def _after_block(text: str, label: str) -> str:
    _, _, rest = text.partition(label)
    return rest.split("\n\n")[0] if rest else ""


@responder("intent_extraction")
def intent_extraction(request: SimRequest) -> str:
    """JSON `{intent, slots}` read off the message."""
    text = _after(_prompt(request), "User message:")
    first = (text.split() or ["help"])[0].lower().strip(",.!?")
    intents = {
        "explain": "explain_concept", "write": "write_content", "draft": "write_content",
        "compare": "compare_options", "plan": "make_plan", "summarise": "summarise",
        "review": "review_work", "give": "get_checklist", "help": "get_help",
    }  # fmt: skip
    words = _keywords(text, request.rng, 3)
    slots = {f"detail_{i + 1}": w for i, w in enumerate(words)}
    return _json({"intent": intents.get(first, "get_help"), "slots": slots}, request)


@responder("semantic_noise")
def semantic_noise(request: SimRequest) -> str:
    """JSON `{noisy_text}`: the clean message with the requested strategies applied."""
    prompt, rng = _prompt(request), request.rng
    clean = _after(prompt, "Clean message:")
    strategies = _labelled(prompt, NOISE_LABEL).get("strategies") or ["colloquial_speech"]
    text = clean
    for name in strategies:
        text = _NOISERS.get(str(name), _colloquial)(text, rng)
    if text.strip() == clean.strip():
        text = clean + rng.choice((" or sth", " idk", " ...", " you know"))
    return _json({"noisy_text": text}, request)


def _typos(text: str, rng: random.Random) -> str:
    words = text.split()
    for i in rng.sample(range(len(words)), min(2, len(words))):
        w = words[i]
        if len(w) > 3:
            j = rng.randrange(1, len(w) - 2)
            words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
    return " ".join(words)


def _colloquial(text: str, rng: random.Random) -> str:
    swaps = (("going to", "gonna"), ("want to", "wanna"), ("kind of", "kinda"), ("I am", "I'm"))
    for long, short in swaps:
        text = text.replace(long, short)
    return rng.choice(("so ", "ok so ", "hey ")) + text[:1].lower() + text[1:]


def _abbreviate(text: str, rng: random.Random) -> str:
    for long, short in (("please", "pls"), ("you", "u"), ("with", "w/"), ("for", "4")):
        text = re.sub(rf"\b{long}\b", short, text)
    return text


def _unpunctuated(text: str, rng: random.Random) -> str:
    return re.sub(r"[.,!?;:]", "", text).lower()


def _omit_slot(text: str, rng: random.Random) -> str:
    cut = re.split(r"\s(?:for|before|with|in|on|that)\s", text, maxsplit=1)[0]
    return cut if cut != text else " ".join(text.split()[: max(3, len(text.split()) // 2)])


def _vague(text: str, rng: random.Random) -> str:
    words = _keywords(text, rng, 1)
    return text.replace(words[0], rng.choice(("that thing", "the usual one", "it")), 1)


def _truncate(text: str, rng: random.Random) -> str:
    words = text.split()
    return " ".join(words[: max(2, int(len(words) * rng.uniform(0.4, 0.7)))]) + "..."


def _ambiguous(text: str, rng: random.Random) -> str:
    words = _keywords(text, rng, 2)
    for word in words:
        text = text.replace(word, rng.choice(("it", "this", "that one")), 1)
    return text


def _two_ways(text: str, rng: random.Random) -> str:
    return text.rstrip(".?!") + rng.choice((" or the other one?", ", or both?", " like last time?"))


def _implicit(text: str, rng: random.Random) -> str:
    topic = " ".join(_keywords(text, rng, 2))
    return rng.choice(
        (f"been struggling with {topic} lately...", f"{topic} is giving me trouble again")
    )


_NOISERS = {
    "typo_misspelling": _typos,
    "colloquial_speech": _colloquial,
    "abbreviation": _abbreviate,
    "missing_punctuation": _unpunctuated,
    "slot_omission": _omit_slot,
    "vague_reference": _vague,
    "truncated_request": _truncate,
    "ambiguous_reference": _ambiguous,
    "multiple_interpretations": _two_ways,
    "implicit_intent": _implicit,
}
