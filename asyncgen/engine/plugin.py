"""The contract between the run engine and a pipeline (interaction, dialogue, complete).

The engine knows only this: how a pipeline plans item *i*, turns an item into an
outcome, names its records file, and describes a record for the index and for dedup.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from asyncgen.config import RunConfig
from asyncgen.llm.types import ChatClient


@dataclass(frozen=True)
class WorkItem:
    """Item *i* of the plan: a pure function of (config, seed, index)."""

    index: int
    seed: int
    payload: dict[str, Any] = field(default_factory=dict)
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
    data: dict[str, Any]


@dataclass
class Failure:
    """An item that could not be completed after its retries."""

    reason: str
    attempts: int = 1
    raw: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reject:
    """A result that was produced but refused (invalid format, duplicate)."""

    reason: str
    data: dict[str, Any] | None = None
    raw: str | None = None
    nearest_id: str | None = None
    score: float | None = None


Outcome = Record | Failure | Reject


@dataclass
class RunContext:
    """What a pipeline's coroutines may use during a run."""

    config: RunConfig
    client: ChatClient
    run_dir: Path
    logger: logging.Logger
    is_simulated: bool = False


class Pipeline(Protocol):
    """A plug-in to the engine.

    Optional attributes the engine reads with `getattr` (absent means the default):
    `plan_size: int | None` (a finite plan, e.g. the lines of a `complete` input; None),
    `index_key: str` (the list's key in index.json; "interactions" for the interaction
    pipeline, else "records"), `retry_failures_on_resume: bool` (a rerun retries the items
    in failures.jsonl instead of planning replacements; False), `supplements: bool`
    (failed and rejected items get replacement items; True), `max_supplement_rounds: int`
    (the pipeline's own limit, e.g. the spec's interaction_generation key; else
    engine.max_supplement_rounds), `aclose()` (called once the run ends).
    """

    name: str
    records_file: str

    async def prepare(self, ctx: RunContext) -> None:
        """Load data and run any stage that precedes the items (resumable)."""
        ...

    def plan_fingerprint(self) -> dict[str, Any]:
        """Settings that change the plan; a resume with different ones is refused."""
        ...

    def plan_item(self, index: int) -> WorkItem:
        """Item *index*; must be a pure function of (config, seed, index)."""
        ...

    async def run_item(self, item: WorkItem, ctx: RunContext) -> Outcome:
        """Turn an item into a record, a failure or a reject; never raise for one item."""
        ...

    def restore(self, record: dict[str, Any]) -> None:
        """Re-learn run state (used base dialogues, mix counters) from a finished record."""
        ...

    def index_entry(self, record: Record) -> dict[str, Any]:
        """The record's line in index.json (id, persona, turns, created_at, query_id)."""
        ...

    def dedup_text(self, record: Record) -> str | None:
        """The text checked for semantic near-duplicates, or None to skip the check."""
        ...


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
