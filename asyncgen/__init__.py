"""asyncgen: synthetic multi-turn dialogue datasets at the provider's rate limit.

The spec documents' public names are importable from here; each loads its subpackage on
first use, so `import asyncgen` (and `asyncgen --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what mypy and editors see behind the lazy names below ("X as X": exported)
    from asyncgen.config import RunConfig as RunConfig
    from asyncgen.config import load_config as load_config
    from asyncgen.dialogue import DialogueGenerator as DialogueGenerator
    from asyncgen.export import TrainingDataCollector as TrainingDataCollector
    from asyncgen.export import TrainingDataExporter as TrainingDataExporter
    from asyncgen.export import TrainingSample as TrainingSample
    from asyncgen.interaction import AssistantModel as AssistantModel
    from asyncgen.interaction import DistractorModel as DistractorModel
    from asyncgen.interaction import (
        EnhancedPersonaGenerationPipeline as EnhancedPersonaGenerationPipeline,
    )
    from asyncgen.interaction import Interaction as Interaction
    from asyncgen.interaction import InteractionGenerator as InteractionGenerator
    from asyncgen.interaction import InteractionStorage as InteractionStorage
    from asyncgen.interaction import Message as Message
    from asyncgen.interaction import SemanticDistractorModel as SemanticDistractorModel
    from asyncgen.interaction import UserFeedbackModel as UserFeedbackModel
    from asyncgen.interaction import create_distractor_model as create_distractor_model
    from asyncgen.llm import Transport as Transport

__version__ = "0.1.0"

_EXPORTS = {
    "AssistantModel": "asyncgen.interaction",
    "DialogueGenerator": "asyncgen.dialogue",
    "DistractorModel": "asyncgen.interaction",
    "EnhancedPersonaGenerationPipeline": "asyncgen.interaction",
    "Interaction": "asyncgen.interaction",
    "InteractionGenerator": "asyncgen.interaction",
    "InteractionStorage": "asyncgen.interaction",
    "Message": "asyncgen.interaction",
    "RunConfig": "asyncgen.config",
    "SemanticDistractorModel": "asyncgen.interaction",
    "TrainingDataCollector": "asyncgen.export",
    "TrainingDataExporter": "asyncgen.export",
    "TrainingSample": "asyncgen.export",
    "Transport": "asyncgen.llm",
    "UserFeedbackModel": "asyncgen.interaction",
    "create_distractor_model": "asyncgen.interaction",
    "load_config": "asyncgen.config",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    """Import a public name from its subpackage on first access."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'asyncgen' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
