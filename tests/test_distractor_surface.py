"""Rule-based surface noise: each strategy is seeded, honours the rate, and is replayable."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncgen.config import DistractorSettings
from asyncgen.interaction.distractor import (
    STRATEGIES,
    DistractorModel,
    TypingHabit,
    derive_habit,
    edit_budget,
    perturb,
    replay,
)
from asyncgen.interaction.distractor.edits import Edit
from asyncgen.interaction.distractor.strategies import MISSPELLINGS

# Words that give every strategy material: capitals, punctuation, misspellable words,
# long words (split), letter pairs (swap), spaces between words (merge).
VOCAB = [f"{w.capitalize()}," for w in MISSPELLINGS]
TEXTS = st.lists(st.sampled_from(VOCAB), min_size=8, max_size=40).map(" ".join)
RATES = st.floats(min_value=0.005, max_value=0.05)
SEEDS = st.integers(min_value=0, max_value=2**32)


def _habit(strategy: str) -> TypingHabit:
    return TypingHabit("test", 1.0, {strategy: 1.0}, ("um",))


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@settings(max_examples=40, deadline=None)
@given(text=TEXTS, rate=RATES, seed=SEEDS)
def test_strategy_is_deterministic_for_a_seed(
    strategy: str, text: str, rate: float, seed: int
) -> None:
    """The same text, rate and seed give the same noisy text and edit log."""
    first = perturb(text, _habit(strategy), rate, random.Random(seed))
    second = perturb(text, _habit(strategy), rate, random.Random(seed))
    assert first == second


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@settings(max_examples=40, deadline=None)
@given(text=TEXTS, rate=RATES, seed=SEEDS)
def test_strategy_honours_the_rate(strategy: str, text: str, rate: float, seed: int) -> None:
    """A text with material gets exactly max(1, round(rate × length)) edits, all of that kind."""
    noisy, edits = perturb(text, _habit(strategy), rate, random.Random(seed))
    assert len(edits) == edit_budget(text, rate) == max(1, round(rate * len(text)))
    assert {e.strategy for e in edits} == {strategy}


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
@settings(max_examples=40, deadline=None)
@given(text=TEXTS, rate=RATES, seed=SEEDS)
def test_edit_log_reproduces_noisy_text(strategy: str, text: str, rate: float, seed: int) -> None:
    """The edit log (also after a JSON round trip) replayed on the clean text gives the noisy."""
    noisy, edits = perturb(text, _habit(strategy), rate, random.Random(seed))
    assert replay(text, edits) == noisy
    assert replay(text, [e.to_dict() for e in edits]) == noisy


@settings(max_examples=60, deadline=None)
@given(text=st.text(min_size=0, max_size=200), rate=st.floats(0.0, 1.0), seed=SEEDS)
def test_any_text_survives_every_strategy(text: str, rate: float, seed: int) -> None:
    """Arbitrary unicode never crashes noise; edits never exceed the budget and always replay."""
    habit = TypingHabit("any", 1.0, dict.fromkeys(STRATEGIES, 1.0), ("um",))
    noisy, edits = perturb(text, habit, rate, random.Random(seed))
    assert len(edits) <= edit_budget(text, rate)
    assert replay(text, edits) == noisy


def test_edit_log_refuses_a_different_text() -> None:
    """A log applied to a text it was not made from is an error, not silent garbage."""
    with pytest.raises(ValueError, match="expects"):
        replay("hello world", [Edit("omission", 0, "x", "")])


def test_habit_is_the_same_on_every_turn_of_a_persona() -> None:
    """A persona's habit is fixed: the same weights each turn, and each turn uses only them."""
    model = DistractorModel(DistractorSettings(char_noise_rate=0.05), seed=3)
    features = {"typing_accuracy": "very sloppy", "punctuation_habit": "none", "device": "phone"}
    habit = model.habit(features, "persona_007")
    assert model.habit(dict(features), "persona_007") is habit
    assert derive_habit("persona_007", features, model.strategies, 3) == habit
    rng = random.Random(1)
    turns = [
        model.version(
            "Could you, please, explain the schedule?", features, persona_id="persona_007", rng=rng
        )
        for _ in range(30)
    ]
    used = {s for v in turns for s in v.applied_strategies}
    assert used <= {n for n, w in habit.weights.items() if w > 0}


def test_habits_follow_persona_features() -> None:
    """Sloppy typists make more edits than careful ones; 'none' punctuation drops more marks."""
    names = list(STRATEGIES)
    careful = derive_habit("p1", {"typing_accuracy": "careful"}, names)
    sloppy = derive_habit("p1", {"typing_accuracy": "very sloppy"}, names)
    assert sloppy.rate_multiplier > careful.rate_multiplier
    base = derive_habit("p2", {}, names)
    no_punct = derive_habit("p2", {"punctuation_habit": "none"}, names)
    assert no_punct.weights["punctuation_drop"] == pytest.approx(
        8 * base.weights["punctuation_drop"]
    )


async def test_model_keeps_configured_versions_and_strategies() -> None:
    """num_noisy_versions versions come back; only configured strategies are used."""
    settings_ = DistractorSettings(
        strategies=["omission", "doubling"], num_noisy_versions=3, char_noise_rate=0.05
    )
    model = DistractorModel(settings_, seed=0)
    result = await model.noise(
        "Please explain the schedule for tomorrow, with an example.",
        {},
        persona_id="p",
        rng=random.Random(0),
    )
    assert result.clean_text.startswith("Please")
    assert len(result.versions) == 3
    for version in result.versions:
        assert version.noise_type == "surface_noise"
        assert set(version.applied_strategies) <= {"omission", "doubling"}
        assert replay(result.clean_text, version.edits) == version.noisy_text
        assert version.to_dict()["edits"]


async def test_apply_noise_returns_changed_text() -> None:
    """The spec's apply_noise(text, persona_features) returns a noisy string."""
    model = DistractorModel(DistractorSettings(char_noise_rate=0.05), seed=0)
    noisy = await model.apply_noise("help me write some python code please", {"role": "engineer"})
    assert isinstance(noisy, str) and noisy != "help me write some python code please"
