"""The top-level public API: the spec's names, importable from `asyncgen`, lazily."""

from __future__ import annotations

import subprocess
import sys

import asyncgen

PINNED = [
    "AssistantModel",
    "DialogueGenerator",
    "DistractorModel",
    "EnhancedPersonaGenerationPipeline",
    "Interaction",
    "InteractionGenerator",
    "InteractionStorage",
    "Message",
    "RunConfig",
    "SemanticDistractorModel",
    "TrainingDataCollector",
    "TrainingDataExporter",
    "TrainingSample",
    "Transport",
    "UserFeedbackModel",
    "__version__",
    "create_distractor_model",
    "load_config",
]


def test_public_names_are_pinned_and_resolve() -> None:
    """Every name in `asyncgen.__all__` is the pinned list and resolves to an object."""
    assert asyncgen.__all__ == PINNED
    for name in PINNED:
        assert getattr(asyncgen, name) is not None


def test_import_does_not_load_the_heavy_parts() -> None:
    """`import asyncgen` loads neither torch nor the transport until a name is used."""
    code = "import sys, asyncgen; print('torch' in sys.modules, 'asyncgen.llm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
