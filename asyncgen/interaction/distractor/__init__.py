"""Noise injection into user turns: rule-based surface noise and the semantic distractor."""

from asyncgen.interaction.distractor.edits import Edit, replay
from asyncgen.interaction.distractor.factory import create_distractor_model
from asyncgen.interaction.distractor.habits import TypingHabit, derive_habit
from asyncgen.interaction.distractor.layers import LAYERS
from asyncgen.interaction.distractor.semantic import SemanticDistractorModel
from asyncgen.interaction.distractor.strategies import STRATEGIES
from asyncgen.interaction.distractor.surface import (
    SURFACE_NOISE,
    DistractorModel,
    edit_budget,
    perturb,
)
from asyncgen.interaction.distractor.types import Distractor, NoiseResult, NoisyVersion

__all__ = [
    "Distractor",
    "DistractorModel",
    "Edit",
    "LAYERS",
    "NoiseResult",
    "NoisyVersion",
    "STRATEGIES",
    "SURFACE_NOISE",
    "SemanticDistractorModel",
    "TypingHabit",
    "create_distractor_model",
    "derive_habit",
    "edit_budget",
    "perturb",
    "replay",
]
