"""What one conversation task comes to, and what a batch needs from the generator.

Kept apart from `generator` so the batch runner (which the generator calls) needs
nothing from the generator's module: the import goes one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from asyncgen.config import InteractionGenerationSettings, RunConfig
from asyncgen.contract import Reason
from asyncgen.interaction.conversation import ConversationTask
from asyncgen.interaction.records import Interaction
from asyncgen.llm.types import ChatClient

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


class TaskRunner(Protocol):
    """The generator as the batch runner uses it."""

    config: RunConfig
    settings: InteractionGenerationSettings

    @property
    def client(self) -> ChatClient:
        """The transport."""
        ...

    def task(
        self, persona_id: str, features: dict[str, str], query: str, **kw: Any
    ) -> ConversationTask:
        """A task with a fresh id and seed."""
        ...

    async def run_task(self, task: ConversationTask) -> TaskOutcome:
        """Run a task with the retries."""
        ...
