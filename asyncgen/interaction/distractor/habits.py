"""Per-persona typing habits: which slips a person makes, and how often, on every turn."""

from __future__ import annotations

import random
from dataclasses import dataclass

from asyncgen.interaction.distractor.strategies import FILLERS, STRATEGIES
from asyncgen.interaction.personas.model import profile_json

# feature → value → (rate multiplier, {strategy: weight factor})
_MODIFIERS: dict[str, dict[str, tuple[float, dict[str, float]]]] = {
    "typing_accuracy": {
        "careful": (0.5, {"keyboard_typo": 0.5}),
        "sloppy": (1.6, {"keyboard_typo": 2.0, "transposition": 2.0}),
        "very sloppy": (2.2, {"keyboard_typo": 3.0, "transposition": 2.0, "doubling": 2.0}),
    },
    "punctuation_habit": {
        "minimal": (1.0, {"punctuation_drop": 4.0}),
        "none": (1.0, {"punctuation_drop": 8.0}),
        "excessive": (1.0, {"punctuation_drop": 0.2}),
    },
    "capitalization_habit": {
        "all lowercase": (1.0, {"case_drop": 8.0}),
        "random": (1.0, {"case_drop": 3.0}),
    },
    "language_habits": {
        "uses filler words": (1.0, {"filler_word": 6.0}),
        "writes full sentences": (0.8, {"filler_word": 0.3}),
        "uses abbreviations": (1.0, {"space_merge": 2.0, "omission": 2.0}),
        "uses slang": (1.0, {"filler_word": 2.0, "misspelling": 1.5}),
    },
    "device": {
        "phone": (1.3, {"keyboard_typo": 2.0, "space_merge": 1.5, "space_split": 1.5}),
        "tablet": (1.2, {"keyboard_typo": 1.5}),
    },
    "time_pressure": {"urgent": (1.3, {"omission": 1.5, "space_merge": 1.5})},
}


@dataclass(frozen=True)
class TypingHabit:
    """How one persona slips: a rate multiplier, strategy weights and favourite fillers."""

    persona_key: str
    rate_multiplier: float
    weights: dict[str, float]
    fillers: tuple[str, ...]

    def effective_rate(self, base_rate: float) -> float:
        """Edits per character for this persona, capped at 1."""
        return min(1.0, base_rate * self.rate_multiplier)


def persona_key(persona_id: str | None, features: dict[str, str]) -> str:
    """What identifies a persona for its habit: the id, else its features."""
    return persona_id or profile_json(features)


def derive_habit(
    persona_id: str | None,
    features: dict[str, str],
    strategies: list[str],
    seed: int = 0,
) -> TypingHabit:
    """The habit of one persona: a pure function of (seed, persona, enabled strategies)."""
    key = persona_key(persona_id, features)
    rng = random.Random(f"habit:{seed}:{key}")
    weights = {name: rng.uniform(0.2, 1.0) for name in strategies}
    multiplier = 1.0
    for feature, table in _MODIFIERS.items():
        rate, factors = table.get(features.get(feature, ""), (1.0, {}))
        multiplier *= rate
        for name, factor in factors.items():
            if name in weights:
                weights[name] *= factor
    if features.get("native_language", "English") != "English" and "misspelling" in weights:
        weights["misspelling"] *= 2.0
    fillers = tuple(rng.sample(FILLERS, 3))
    return TypingHabit(key, multiplier, weights, fillers)


def enabled_strategies(configured: list[str]) -> list[str]:
    """The surface strategies to use: the configured ones that exist, all when empty."""
    if not configured:
        return list(STRATEGIES)
    return [name for name in configured if name in STRATEGIES]
