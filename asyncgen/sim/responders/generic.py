"""Generic prose for prompt kinds the simulator does not know.

Plausible, varied and cheap: a few sentences built from the request's own words (the
topic of the last user message, the persona the system prompt describes), chosen with
the request's seeded RNG so the same request always reads the same.
"""

from __future__ import annotations

import re

import orjson

from asyncgen.sim.responders import GENERIC_KIND, SimRequest, responder
from asyncgen.sim.schema_fill import fill_schema

_WORD = re.compile(r"[A-Za-z][A-Za-z'-]{2,}")
_PERSONA = re.compile(r"\byou are ((?:an? |the )?[^.,;:\n]{3,60})", re.IGNORECASE)
_STOP = frozenset(
    "the and for are but not you your with this that from have has had was were will would "
    "can could should about what which when where who why how into than then them they "
    "their there here some any all our out its it's i'm i've please tell give make need "
    "want like just also very more most much many know help me my".split()
)
_OPENERS = (
    "Sure.",
    "Certainly.",
    "Good question.",
    "Happy to help.",
    "Here is how I would approach it.",
    "Let me walk you through it.",
    "That depends on a few things.",
)
_POINTS = (
    "The first thing to look at with {topic} is what you actually need from it.",
    "Most people find that {topic} works best when they start small and adjust.",
    "A common mistake with {topic} is to optimise too early.",
    "It helps to compare two or three options for {topic} side by side.",
    "Timing matters: {topic} is easier to sort out before the busy period.",
    "If budget is a concern, there are cheaper ways to handle {topic}.",
    "Keep a short note of what you tried with {topic}, so you can see what worked.",
    "Ask someone who has dealt with {topic} before; their shortcuts save hours.",
    "Check the details of {topic} twice, since small errors compound later.",
    "For {topic}, a simple plan you follow beats a perfect plan you abandon.",
)
# Steps coprime with len(_POINTS), so stepping never repeats a point within one answer.
_STRIDES = (1, 3, 7, 9)
_VOICES = (
    "As {persona}, you may care most about the practical side.",
    "Given your background as {persona}, the technical details should feel familiar.",
    "From the perspective of {persona}, reliability probably matters more than speed.",
)
_CLOSERS = (
    "Let me know if you want more detail on any of these.",
    "I hope that helps; happy to go deeper on any point.",
    "Would you like a step-by-step version?",
    "Tell me more about your situation and I can narrow it down.",
    "",
)


def _topic(text: str) -> str:
    """The first few content words of `text`, or a neutral phrase."""
    words = [w for w in _WORD.findall(text[:400]) if w.lower() not in _STOP]
    return " ".join(words[:4]).lower() if words else "this"


@responder(GENERIC_KIND)
def generic(request: SimRequest) -> str:
    """Prose about the last user message; JSON when the request's response_format asks."""
    fmt = request.params.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        return orjson.dumps(fill_schema(schema, request.rng)).decode()
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return orjson.dumps({"answer": _prose(request)}).decode()
    return _prose(request)


def _prose(request: SimRequest) -> str:
    """A few plausible sentences about the last user message, in the persona's terms."""
    # One 64-bit draw feeds every choice: this runs on every simulated request.
    bits = request.rng.getrandbits(64)
    bits, opener = divmod(bits, len(_OPENERS))
    bits, count = divmod(bits, 3)
    bits, start = divmod(bits, len(_POINTS))
    bits, stride = divmod(bits, len(_STRIDES))
    topic = _topic(request.last_user)
    sentences = [_OPENERS[opener]]
    for n in range(count + 2):
        point = _POINTS[(start + n * _STRIDES[stride]) % len(_POINTS)]
        sentences.append(point.replace("{topic}", topic))
    bits, use_voice = divmod(bits, 10)
    persona = _PERSONA.search(request.system) if use_voice < 7 else None
    if persona is not None:
        bits, voice = divmod(bits, len(_VOICES))
        sentences.insert(1, _VOICES[voice].replace("{persona}", persona.group(1).strip()))
    closer = _CLOSERS[bits % len(_CLOSERS)]
    if closer:
        sentences.append(closer)
    return " ".join(sentences)
