"""Sample diverse personas from the bank: a share of features each, pairwise distinct."""

from __future__ import annotations

import random

from asyncgen.errors import ConfigError
from asyncgen.interaction.personas.bank import PersonaBank
from asyncgen.interaction.personas.model import Persona

MAX_TRIES_PER_PERSONA = 500


def differing_features(a: dict[str, str], b: dict[str, str]) -> int:
    """Dimensions where two personas are not fixed to the same value."""
    return sum(1 for key in a.keys() | b.keys() if a.get(key) != b.get(key))


def persona_id(index: int, total: int) -> str:
    """`persona_001`-style ids, zero-padded to at least three digits."""
    return f"persona_{index + 1:0{max(3, len(str(total)))}d}"


def sample_personas(
    bank: PersonaBank,
    num_personas: int,
    *,
    feature_share: float,
    min_differing: int,
    rng: random.Random,
) -> list[Persona]:
    """Draw `num_personas` personas, each fixing round(share × dims) features.

    Raises:
        ConfigError: the bank cannot yield that many personas this far apart.
    """
    count = _features_per_persona(bank, feature_share)
    people: list[Persona] = []
    for index in range(num_personas):
        features = _draw_distinct(bank, count, min_differing, [p.features for p in people], rng)
        if features is None:
            raise ConfigError(
                f"personas: cannot sample {num_personas} personas that differ in "
                f"{min_differing}+ features (stuck at {index}); lower "
                "personas.min_differing_features or raise personas.feature_share"
            )
        people.append(Persona(persona_id(index, num_personas), features))
    return people


def _features_per_persona(bank: PersonaBank, share: float) -> int:
    required = sum(1 for d in bank.dimensions if d.always)
    return min(len(bank.dimensions), max(required, 1, round(share * len(bank.dimensions))))


def _draw_distinct(
    bank: PersonaBank,
    count: int,
    min_differing: int,
    taken: list[dict[str, str]],
    rng: random.Random,
) -> dict[str, str] | None:
    for _ in range(MAX_TRIES_PER_PERSONA):
        candidate = _draw(bank, count, rng)
        if all(differing_features(candidate, other) >= min_differing for other in taken):
            return candidate
    return None


def _draw(bank: PersonaBank, count: int, rng: random.Random) -> dict[str, str]:
    fixed = [d for d in bank.dimensions if d.always]
    optional = [d for d in bank.dimensions if not d.always]
    chosen = fixed + rng.sample(optional, max(0, count - len(fixed)))
    picked = {d.name for d in chosen}
    # keep the bank's dimension order so records read the same way every time
    return {d.name: rng.choice(d.values) for d in bank.dimensions if d.name in picked}
