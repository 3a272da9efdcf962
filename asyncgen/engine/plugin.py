"""The pipeline contract, re-exported for code written against its old home.

The types live in `asyncgen.contract` (the bottom of the import graph, so `store` and
`dedup` need not import the engine); import them from there.
"""

from asyncgen.contract import (
    DedupDecision,
    Failure,
    Outcome,
    Pipeline,
    PipelineBase,
    PipelineOf,
    PipelineTraits,
    Reason,
    Record,
    Reject,
    RunContext,
    UniquenessGate,
    WorkItem,
)

__all__ = [
    "DedupDecision",
    "Failure",
    "Outcome",
    "Pipeline",
    "PipelineBase",
    "PipelineOf",
    "PipelineTraits",
    "Reason",
    "Record",
    "Reject",
    "RunContext",
    "UniquenessGate",
    "WorkItem",
]
