"""The contract between the run engine, its pipelines, the store and the uniqueness gate.

It sits at the bottom of the import graph (it needs only the settings and the transport's
protocol), so `engine`, `store`, `dedup` and the pipelines all import it and none of them
imports another upwards. The engine knows a pipeline only through this: how it plans item
*i*, turns an item into an outcome, names its records file, describes a record for the
index and for dedup, and which optional behaviour it declares in its `PipelineTraits`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from asyncgen.jsontypes import JsonObject

if TYPE_CHECKING:
    from asyncgen.config import RunConfig
    from asyncgen.llm.types import RunClient

StageCounts = dict[str, tuple[int | None, int | None]]
"""A pipeline's stages before the items, in order: label -> (done, total); a None done
is counted from the ledger's requests of that kind, a None total is unknown."""


class Reason(StrEnum):
    """Why an item ended without a record: the short key summaries and reports group by.

    The human-readable part (an exception's text, the format problems) goes in the
    outcome's `message`, never into the key. A pipeline may use its own short key (any
    string without a colon); these are the ones the engine and the built-in pipelines use.
    """

    DUPLICATE = "duplicate"
    INVALID_FORMAT = "invalid_format"
    MALFORMED_OUTPUT = "malformed_user_feedback"
    LLM_ERROR = "llm_error"
    LLM_REFUSED = "llm_refused"
    BUDGET_EXHAUSTED = "budget_exhausted"
    INTERNAL_ERROR = "internal_error"
    NOT_SERIALISABLE = "not_serialisable"
    DUPLICATE_BASE = "duplicate_base_dialogue"
    BASE_EXHAUSTED = "base_dataset_exhausted"
    SCENARIO_LLM_ERROR = "scenario_llm_error"
    DIALOGUE_LLM_ERROR = "dialogue_llm_error"
    LOW_QUALITY = "low_quality"
    BASE_WITHOUT_GOAL = "base_without_goal"
    UNJUDGED = "unjudged"


def reason_key(reason: str) -> str:
    """The grouping key of a reason: its text before any colon (records of older runs)."""
    return str(reason).split(":", 1)[0].strip()[:60] or "unknown"


P = TypeVar("P")
"""A pipeline's payload type: what item *i* carries from the plan to `run_item`."""


@dataclass(frozen=True, slots=True)
class WorkItem(Generic[P]):
    """Item *i* of the plan: a pure function of (config, seed, index).

    The payload is the pipeline's own frozen dataclass (`DialoguePlan`, `ConversationPlan`,
    `LineSpan`); the engine never reads it, it only hands the item back to `run_item`.
    """

    index: int
    seed: int
    payload: P
    id: str | None = None

    @property
    def record_id(self) -> str:
        """Stable id of the record this item produces (an explicit `id` wins, as in `complete`)."""
        if self.id is not None:
            return self.id
        return f"{self.seed:x}-{self.index:07d}"


@dataclass
class Record:
    """A finished, valid result; `data` is written as one JSON line."""

    id: str
    data: JsonObject


@dataclass
class Failure:
    """An item that could not be completed after its retries."""

    reason: str
    attempts: int = 1
    raw: str | None = None
    detail: JsonObject = field(default_factory=dict)
    message: str = ""


@dataclass
class Reject:
    """A result that was produced but refused (invalid format, duplicate)."""

    reason: str
    data: JsonObject | None = None
    raw: str | None = None
    nearest_id: str | None = None
    score: float | None = None
    message: str = ""


Outcome = Record | Failure | Reject


@dataclass
class RunContext:
    """What a pipeline's coroutines may use during a run."""

    config: RunConfig
    client: RunClient
    run_dir: Path
    logger: logging.Logger
    is_simulated: bool = False


@dataclass(frozen=True)
class PipelineTraits:
    """Optional engine behaviour a pipeline declares (read once, after `prepare`).

    Attributes:
        plan_size: a finite plan (the lines of a `complete` input); None: unbounded.
        index_key: the list's key in index.json.
        supplements: failed and rejected items get replacement items.
        max_supplement_rounds: the pipeline's own limit (the spec's interaction key);
            None: `engine.max_supplement_rounds`.
        retry_failures_on_resume: a rerun retries the items in failures.jsonl instead of
            planning replacements.
    """

    plan_size: int | None = None
    index_key: str = "records"
    supplements: bool = True
    max_supplement_rounds: int | None = None
    retry_failures_on_resume: bool = False


class PipelineOf(Protocol[P]):
    """A plug-in to the engine whose items carry a `P`; `PipelineBase` gives the optional
    parts their defaults."""

    name: str
    records_file: str

    def traits(self) -> PipelineTraits:
        """The optional behaviour this pipeline wants (called after `prepare`)."""
        ...

    async def prepare(self, ctx: RunContext) -> None:
        """Load data and run any stage that precedes the items (resumable)."""
        ...

    def plan_fingerprint(self) -> JsonObject:
        """Settings that change the plan; a resume with different ones is refused."""
        ...

    def plan_item(self, index: int) -> WorkItem[P]:
        """Item *index*; must be a pure function of (config, seed, index)."""
        ...

    async def run_item(self, item: WorkItem[P], ctx: RunContext) -> Outcome:
        """Turn an item into a record, a failure or a reject; never raise for one item."""
        ...

    def restore(self, record: JsonObject) -> None:
        """Re-learn run state (used base dialogues, mix counters) from a finished record."""
        ...

    def index_entry(self, record: Record) -> JsonObject:
        """The record's line in index.json (id, persona, turns, created_at, query_id)."""
        ...

    def dedup_text(self, record: Record) -> str | None:
        """The text checked for semantic near-duplicates, or None to skip the check."""
        ...

    def stage_counts(self) -> StageCounts:
        """Progress of the stages `prepare` runs (personas, queries), for the display."""
        ...

    def record_dropped(self, record: JsonObject) -> None:
        """A record this pipeline produced was rejected after `run_item` (judge, dedup)."""
        ...

    def summary_figures(self) -> JsonObject | None:
        """The pipeline's own figures for summary.json (the turn mix), or None."""
        ...

    async def aclose(self) -> None:
        """Called once when the run ends (exports, closing files)."""
        ...


Pipeline = PipelineOf[Any]
"""A pipeline as the engine, the store and the CLI see it: its payload is opaque to them."""


class PipelineBase:
    """Defaults for a pipeline's optional parts: no traits, no state, no dedup, no stages,
    no figures, no close."""

    def traits(self) -> PipelineTraits:
        """No optional behaviour."""
        return PipelineTraits()

    def restore(self, record: JsonObject) -> None:
        """Nothing to re-learn."""

    def index_entry(self, record: Record) -> JsonObject:
        """The record's id."""
        return {"id": record.id}

    def dedup_text(self, record: Record) -> str | None:
        """No semantic check."""
        return None

    def stage_counts(self) -> StageCounts:
        """No stages before the items."""
        return {}

    def record_dropped(self, record: JsonObject) -> None:
        """The plan does not depend on what was produced."""

    def summary_figures(self) -> JsonObject | None:
        """No figures of its own."""
        return None

    async def aclose(self) -> None:
        """Nothing to close."""


@dataclass(frozen=True)
class DedupDecision:
    """Whether a candidate is new; if not, which earlier record it repeats."""

    is_duplicate: bool
    nearest_id: str | None = None
    score: float | None = None


class UniquenessGate(Protocol):
    """Semantic uniqueness as the engine sees it: check-and-add, batched behind the scenes."""

    async def start(self, run_dir: Path, existing: list[tuple[str, str]]) -> None:
        """Load or rebuild the index so it holds exactly the `existing` (id, text) records."""
        ...

    async def check(self, record_id: str, text: str) -> DedupDecision:
        """Check a candidate against the index and its batch; add it when it is new."""
        ...

    async def aclose(self) -> None:
        """Persist the index and stop the worker."""
        ...
