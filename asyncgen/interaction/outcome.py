"""What one conversation task comes to, and how it becomes an engine outcome.

Kept apart from `generator` so the batch plug-in (which the generator calls) needs
nothing from the generator's module: the import goes one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from asyncgen.config import InteractionGenerationSettings, RunConfig
from asyncgen.contract import Failure, Outcome, Reason, Record, Reject
from asyncgen.interaction.conversation import ConversationTask
from asyncgen.interaction.records import Interaction, index_entry
from asyncgen.llm.types import RunClient

# a refused request or a spent budget ends a task at once: retrying cannot help
FINAL_REASONS = frozenset({Reason.BUDGET_EXHAUSTED, Reason.LLM_REFUSED})


@dataclass
class TaskOutcome:
    """An interaction, or why there is none (reason, last raw answer, attempts made)."""

    interaction: Interaction | None
    attempts: int
    reason: str | None = None
    raw: str | None = None
    detail: dict[str, Any] | None = None

    def to_outcome(self, record_id: str) -> Outcome:
        """The engine's outcome: a record, a reject (an invalid interaction) or a failure."""
        if self.interaction is not None:
            return Record(id=record_id, data=self.interaction.to_dict())
        detail = self.detail or {}
        if self.reason == "invalid_interaction":
            problems = "; ".join(detail.get("problems", []))
            return Reject(Reason.INVALID_FORMAT, message=problems, data=detail.get("interaction"))
        return Failure(
            self.reason or Reason.INTERNAL_ERROR,
            attempts=self.attempts,
            raw=self.raw,
            detail=detail,
            message=_message(detail),
        )


def _message(detail: dict[str, Any]) -> str:
    """The human-readable part of a failure: the error's type and text."""
    kind, error = detail.get("type"), str(detail.get("error", ""))
    return (f"{kind}: {error}" if kind else error)[:300]


def record_entry(record: Record, filepath: str) -> dict[str, Any]:
    """A record's index.json entry: its id, then the spec's fields."""
    return {"id": record.id, **index_entry(record.data, filepath)}


class TaskRunner(Protocol):
    """The generator as the batch plug-in uses it."""

    config: RunConfig
    settings: InteractionGenerationSettings

    @property
    def client(self) -> RunClient:
        """The transport."""
        ...

    @property
    def is_simulated(self) -> bool:
        """Whether the transport talks to the embedded simulator."""
        ...

    def task(
        self, persona_id: str, features: dict[str, str], query: str, **kw: Any
    ) -> ConversationTask:
        """A task with a fresh id and seed."""
        ...

    def run_name(self) -> str:
        """A fresh name for one batch's run directory, unique across generators."""
        ...

    async def run_task(self, task: ConversationTask) -> TaskOutcome:
        """Run a task with the retries."""
        ...
