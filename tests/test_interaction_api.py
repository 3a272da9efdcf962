"""The public surface of asyncgen.interaction: the spec's names, importable and documented."""

from __future__ import annotations

import inspect

import asyncgen.interaction as interaction
from asyncgen.interaction import distractor, personas, queries

SPEC_NAMES = {
    "InteractionGenerator",
    "Interaction",
    "Message",
    "InteractionStorage",
    "AssistantModel",
    "UserFeedbackModel",
    "DistractorModel",
    "SemanticDistractorModel",
    "create_distractor_model",
    "EnhancedPersonaGenerationPipeline",
}


def test_public_names_are_pinned_sorted_and_documented() -> None:
    """__all__ is sorted, holds the spec's names, and every export has a docstring."""
    for module in (interaction, distractor, personas, queries):
        assert module.__all__ == sorted(module.__all__)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert (obj.__doc__ or "").strip(), f"{module.__name__}.{name} has no docstring"
    assert SPEC_NAMES <= set(interaction.__all__)


def test_spec_methods_are_coroutines() -> None:
    """The spec's generation and model calls are asyncio-native."""
    for cls, method in [
        (interaction.InteractionGenerator, "generate_interaction"),
        (interaction.InteractionGenerator, "generate_interactions_batch"),
        (interaction.AssistantModel, "respond"),
        (interaction.UserFeedbackModel, "generate_feedback"),
        (interaction.DistractorModel, "apply_noise"),
        (interaction.SemanticDistractorModel, "apply_noise"),
        (interaction.EnhancedPersonaGenerationPipeline, "run"),
    ]:
        assert inspect.iscoroutinefunction(getattr(cls, method)), f"{cls.__name__}.{method}"
    for name in ("to_dict", "get_trajectory", "get_full_conversation"):
        assert callable(getattr(interaction.Interaction, name))
    for name in ("save", "load", "load_all"):
        assert callable(getattr(interaction.InteractionStorage, name))
