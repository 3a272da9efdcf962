"""Pipelines by name: the engine knows none of them until one is asked for."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from asyncgen.config import RunConfig
from asyncgen.contract import Pipeline
from asyncgen.errors import ConfigError

PIPELINES: dict[str, str] = {
    "interaction": "asyncgen.interaction.pipeline:InteractionPipeline",
    "dialogue": "asyncgen.dialogue.pipeline:DialoguePipeline",
    "complete": "asyncgen.engine.complete:CompletePipeline",
}


PipelineFactory = Callable[[RunConfig], Pipeline]
"""A pipeline class (or any callable) that builds the pipeline for a config."""


def pipeline_class(name: str) -> PipelineFactory:
    """The class registered under `name`, or named by a `package.module:Class` path.

    Raises:
        ConfigError: the name is unknown, or its module or class cannot be imported.
    """
    target = PIPELINES.get(name, name)
    module_name, _, attr = target.partition(":")
    if not attr:
        known = ", ".join(sorted(PIPELINES))
        raise ConfigError(f"unknown pipeline {name!r}; choose one of {known} (or module:Class)")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise ConfigError(
                f"pipeline {name!r} is not available: module {module_name} is not installed"
            ) from exc
        raise
    factory: PipelineFactory | None = getattr(module, attr, None)
    if factory is None:
        raise ConfigError(f"pipeline {name!r}: {module_name} has no {attr}")
    return factory


def load_pipeline(name: str, config: RunConfig) -> Pipeline:
    """Construct the pipeline `name` for this config.

    Raises:
        ConfigError: the pipeline is unknown or cannot be imported.
    """
    return pipeline_class(name)(config)
