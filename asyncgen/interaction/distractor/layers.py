"""The semantic noise layers and the strategies within each, with what they mean."""

from __future__ import annotations

import random

LAYERS: dict[str, dict[str, str]] = {
    "surface_noise": {
        "typo_misspelling": "misspell or mistype a few words the way a hurried typist would",
        "colloquial_speech": "use casual, spoken-style wording and contractions",
        "abbreviation": "shorten words and phrases (pls, u, thx, w/, info)",
        "missing_punctuation": "leave out most punctuation and capitals",
    },
    "incomplete_information": {
        "slot_omission": "leave out one or more concrete details the request depends on",
        "vague_reference": "replace a specific detail with a vague one ('that thing', 'the usual')",
        "truncated_request": "stop the message before the request is complete",
    },
    "semantic_ambiguity": {
        "ambiguous_reference": "use pronouns or references that could point to several things",
        "multiple_interpretations": "phrase it so that it can reasonably be read two ways",
        "implicit_intent": "hint at the goal instead of stating it",
    },
}


def choose_layer(weights: dict[str, float], rng: random.Random) -> str:
    """A noise layer drawn by the configured weights (known layers only)."""
    names = [name for name in LAYERS if weights.get(name, 0.0) > 0]
    if not names:
        names = list(LAYERS)
        return rng.choice(names)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def choose_strategies(layer: str, configured: list[str], rng: random.Random) -> list[str]:
    """One or two strategies of `layer`, limited to the configured ones when any match."""
    pool = list(LAYERS[layer])
    allowed = [name for name in pool if name in configured]
    pool = allowed or pool
    return rng.sample(pool, min(len(pool), rng.choice((1, 2))))


def strategy_guide(strategies: list[str]) -> str:
    """`- name: meaning` lines for the prompt."""
    meaning = {name: text for layer in LAYERS.values() for name, text in layer.items()}
    return "\n".join(f"- {name}: {meaning[name]}" for name in strategies)
