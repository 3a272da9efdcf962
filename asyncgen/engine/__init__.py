"""asyncgen.engine: the run engine and the pipeline plug-in contract.

`run_generation` runs a `Pipeline` into a run directory: a lazy seeded plan, a bounded
pool of worker coroutines, one writer task per output file, resume after any crash.
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
from asyncgen.engine.lag import Histogram, LagMonitor
from asyncgen.engine.plan import Planner, Ticket
from asyncgen.engine.progress import ProgressReporter, progress_line, progress_table
from asyncgen.engine.registry import PIPELINES, load_pipeline, pipeline_class
from asyncgen.engine.runner import RunOptions, run_generation
from asyncgen.engine.shutdown import Shutdown
from asyncgen.engine.summary import RunSummary, render_summary
from asyncgen.engine.tally import Snapshot, Tally
from asyncgen.llm.types import ClientBase, RunClient

__all__ = [
    "PIPELINES",
    "ClientBase",
    "DedupDecision",
    "Failure",
    "Histogram",
    "LagMonitor",
    "Outcome",
    "Pipeline",
    "PipelineBase",
    "PipelineOf",
    "PipelineTraits",
    "Planner",
    "ProgressReporter",
    "Reason",
    "Record",
    "Reject",
    "RunClient",
    "RunContext",
    "RunOptions",
    "RunSummary",
    "Shutdown",
    "Snapshot",
    "Tally",
    "Ticket",
    "UniquenessGate",
    "WorkItem",
    "load_pipeline",
    "pipeline_class",
    "progress_line",
    "progress_table",
    "render_summary",
    "run_generation",
]
