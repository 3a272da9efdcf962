"""asyncgen: synthetic multi-turn dialogue datasets at the provider's rate limit.

The spec documents' public names are importable from here; each loads its subpackage on
first use, so `import asyncgen` (and `asyncgen --help`) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

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
