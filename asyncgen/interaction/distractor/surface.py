"""The rule-based distractor: seeded surface noise in each persona's typing habit."""

from __future__ import annotations

import random

from asyncgen.config import DistractorSettings
from asyncgen.interaction.distractor.edits import Edit
from asyncgen.interaction.distractor.habits import (
    TypingHabit,
    derive_habit,
    enabled_strategies,
    persona_key,
)
from asyncgen.interaction.distractor.strategies import STRATEGIES, filler_word
from asyncgen.interaction.distractor.types import NoiseResult, NoisyVersion, unique
from asyncgen.llm.types import ChatClient

SURFACE_NOISE = "surface_noise"


def edit_budget(text: str, rate: float) -> int:
    """Edits a noised text gets at `rate` edits per character (at least one)."""
    return max(1, round(rate * len(text))) if text else 0


def perturb(
    text: str, habit: TypingHabit, rate: float, rng: random.Random
) -> tuple[str, list[Edit]]:
    """Apply `edit_budget` edits drawn by the habit's weights; the noisy text and its log."""
    edits: list[Edit] = []
    for _ in range(edit_budget(text, habit.effective_rate(rate))):
        edit = _one_edit(text, habit, rng)
        if edit is None:
            break
        text = edit.apply(text)
        edits.append(edit)
    return text, edits


def _one_edit(text: str, habit: TypingHabit, rng: random.Random) -> Edit | None:
    """An edit from a strategy chosen by weight; others are tried when it cannot apply."""
    names = [n for n, w in habit.weights.items() if w > 0]
    weights = [habit.weights[n] for n in names]
    while names:
        i = rng.choices(range(len(names)), weights=weights)[0]
        name = names.pop(i)
        weights.pop(i)
        if name == "filler_word":
            edit = filler_word(text, rng, habit.fillers)
        else:
            edit = STRATEGIES[name](text, rng)
        if edit is not None:
            return edit
    return None


class DistractorModel:
    """Rule-based surface noise: typos, omissions, doublings, swaps, spacing, case, fillers."""

    distractor_type = "rule_based"

    def __init__(self, settings: DistractorSettings | None = None, *, seed: int = 0) -> None:
        """Configure strategies and rate.

        Args:
            settings: `strategies` ([] = all), `char_noise_rate`, `num_noisy_versions`.
            seed: seeds persona habits and `apply_noise` calls made without an rng.
        """
        self.settings = settings or DistractorSettings()
        self.seed = seed
        self.strategies = enabled_strategies(self.settings.strategies)
        self._habits: dict[str, TypingHabit] = {}
        self._rng = random.Random(seed)

    def habit(self, persona_features: dict[str, str], persona_id: str | None = None) -> TypingHabit:
        """The persona's typing habit (the same object on every turn of that persona)."""
        key = persona_key(persona_id, persona_features)
        if key not in self._habits:
            self._habits[key] = derive_habit(
                persona_id, persona_features, self.strategies, self.seed
            )
        return self._habits[key]

    def version(
        self,
        text: str,
        persona_features: dict[str, str],
        *,
        persona_id: str | None = None,
        rng: random.Random,
    ) -> NoisyVersion:
        """One noisy version with its edit log."""
        habit = self.habit(persona_features, persona_id)
        noisy, edits = perturb(text, habit, self.settings.char_noise_rate, rng)
        strategies = unique([e.strategy for e in edits])
        return NoisyVersion(noisy, SURFACE_NOISE, strategies, edits)

    async def noise(
        self,
        text: str,
        persona_features: dict[str, str],
        *,
        persona_id: str | None = None,
        rng: random.Random,
    ) -> NoiseResult:
        """`num_noisy_versions` noisy versions; the first is the one sent."""
        versions = [
            self.version(text, persona_features, persona_id=persona_id, rng=rng)
            for _ in range(self.settings.num_noisy_versions)
        ]
        return NoiseResult(text, versions)

    async def apply_noise(self, text: str, persona_features: dict[str, str]) -> str:
        """The spec's call: one noisy version of `text` in this persona's habit."""
        return self.version(text, persona_features, rng=self._rng).noisy_text

    def release_client(self, client: ChatClient) -> None:
        """Rule-based noise holds no client."""

    def bind_client(self, client: ChatClient) -> None:
        """Rule-based noise makes no model calls."""
