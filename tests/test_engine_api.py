"""The engine's and the store's public names stay put (pipelines and tools import them)."""

from __future__ import annotations

import asyncgen.engine
import asyncgen.store


def test_engine_public_api_is_pinned() -> None:
    """asyncgen.engine exports the plug-in contract and the runner, once each."""
    assert len(set(asyncgen.engine.__all__)) == len(asyncgen.engine.__all__)
    assert {
        "Pipeline",
        "WorkItem",
        "Record",
        "Failure",
        "Reject",
        "RunContext",
        "UniquenessGate",
        "DedupDecision",
        "PipelineBase",
        "PipelineTraits",
        "RunClient",
        "ClientBase",
        "run_generation",
        "RunOptions",
        "RunSummary",
        "Shutdown",
        "load_pipeline",
    } <= set(asyncgen.engine.__all__)
    for name in asyncgen.engine.__all__:
        assert hasattr(asyncgen.engine, name), name


def test_store_public_api_is_pinned() -> None:
    """asyncgen.store exports the writer, the layout and resume, once each."""
    assert len(set(asyncgen.store.__all__)) == len(asyncgen.store.__all__)
    assert {"JsonlWriter", "RunLayout", "load_existing", "repair_tail", "write_index"} <= set(
        asyncgen.store.__all__
    )
    for name in asyncgen.store.__all__:
        assert hasattr(asyncgen.store, name), name


def test_registry_names_the_three_pipelines() -> None:
    """interaction, dialogue and complete are found by name; the classes import lazily."""
    from asyncgen.engine.registry import PIPELINES, pipeline_class

    assert set(PIPELINES) == {"interaction", "dialogue", "complete"}
    assert pipeline_class("complete").__name__ == "CompletePipeline"
