"""Persona-contradicting user turns, and how the simulated judge recognises them.

A real user model sometimes drops its persona ("as a complete beginner…" from a
self-described expert). The simulator injects such a sentence into a user follow-up at
`sim.persona_contradiction_rate`; the sentence always carries the phrase "contrary to my
profile", which the simulated judge finds in the conversation text itself (surface noise
applied later by the distractor included: the match is fuzzy), so the quality gate is
tested on what it reads, never on a hidden flag.
"""

from __future__ import annotations

import random
import re
from difflib import SequenceMatcher

MARKER = "contrary to my profile"
_SQUASHED = re.sub(r"[^a-z]", "", MARKER)
_TEMPLATES = (
    "Contrary to my profile, I am not a {role} at all and I have never touched {domain}.",
    "Contrary to my profile I know nothing about {domain}, so explain it like I'm five.",
    "Honestly, contrary to my profile, I hate {format} and I am in no hurry whatsoever.",
)
_SLACK = 12  # letters a noised copy may gain (an inserted filler word)
_MISSING = 2  # letters it may lose (typos, omissions)


def contradiction(profile: dict[str, str], rng: random.Random) -> str:
    """One sentence that contradicts this persona, carrying the marker phrase."""
    return rng.choice(_TEMPLATES).format(
        role=profile.get("role") or "professional",
        domain=profile.get("domain") or "this field",
        format=profile.get("preferred_format") or "short answers",
    )


def has_contradiction(text: str) -> bool:
    """Whether `text` holds the marker phrase, tolerating a few typos, merges and omissions."""
    squashed = re.sub(r"[^a-z]", "", text.lower())
    if _SQUASHED in squashed:
        return True
    size = len(_SQUASHED)
    for anchor in range(0, size - 4, 3):  # any 5-letter piece of the marker locates a candidate
        piece = _SQUASHED[anchor : anchor + 5]
        start = squashed.find(piece)
        while start >= 0:
            begin = max(0, start - anchor - _SLACK)
            window = squashed[begin : start - anchor + size + _SLACK]
            blocks = SequenceMatcher(None, _SQUASHED, window, autojunk=False).get_matching_blocks()
            if sum(block.size for block in blocks) >= size - _MISSING:
                return True
            start = squashed.find(piece, start + 1)
    return False
