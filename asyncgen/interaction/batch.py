"""Batch generation for the spec's `generate_interactions_batch`: bounded, with supplements."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncgen import offload
from asyncgen.errors import LLMError
from asyncgen.interaction.concurrency import bounded_map
from asyncgen.interaction.conversation import ConversationTask
from asyncgen.interaction.outcome import FINAL_REASONS, TaskOutcome, TaskRunner
from asyncgen.interaction.personas.model import Persona
from asyncgen.interaction.queries import QueryRecord, QueryWriter, StyleTransfer
from asyncgen.interaction.queries.model import query_id as make_query_id
from asyncgen.interaction.records import Interaction
from asyncgen.llm.types import ModelHandle

log = logging.getLogger("asyncgen.interaction")


@dataclass
class BatchReport:
    """What a batch produced; `success_rate` counts supplement tasks too."""

    interactions: list[Interaction] = field(default_factory=list)
    total_tasks: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    supplement_rounds: int = 0

    @property
    def success_rate(self) -> float:
        """Share of tasks that produced an interaction."""
        return len(self.interactions) / self.total_tasks if self.total_tasks else 0.0


def build_tasks(
    generator: TaskRunner, personas_with_queries: Sequence[dict[str, Any]]
) -> list[ConversationTask]:
    """One task per (persona, query), with a target drawn in [min_turns, max_turns]."""
    settings = generator.settings
    rng = random.Random(f"batch:{generator.config.engine.seed}")
    tasks = []
    for entry in personas_with_queries:
        pid = str(entry["persona_id"])
        for number, query in enumerate(entry.get("queries", []), start=1):
            initial = query.get("adapted_query") or query.get("initial_query") or query["query"]
            target = query.get("target_turns") or rng.randint(
                settings.min_turns, settings.max_turns
            )
            tasks.append(
                generator.task(
                    pid,
                    dict(entry["persona_features"]),
                    str(initial),
                    system_prompt=entry.get("system_prompt") or query.get("system_prompt"),
                    original_query=query.get("original_query") or initial,
                    target_turns=int(target),
                    query_id=query.get("query_id") or make_query_id(pid, number),
                )
            )
    return tasks


async def run_batch(
    generator: TaskRunner,
    personas_with_queries: Sequence[dict[str, Any]],
    show_progress: bool,
    max_workers: int,
    storage: Any,
) -> BatchReport:
    """Run every task, then supplement rounds with new queries for failed ones."""
    report = BatchReport()
    tasks = build_tasks(generator, personas_with_queries)
    for round_number in range(generator.settings.max_supplement_rounds + 1):
        if not tasks:
            break
        if round_number:
            report.supplement_rounds = round_number
        report.total_tasks += len(tasks)
        outcomes = await _run_round(generator, tasks, show_progress, max_workers, storage)
        failed = []
        for task, outcome in zip(tasks, outcomes, strict=True):
            if outcome.interaction is not None:
                report.interactions.append(outcome.interaction)
            else:
                if outcome.reason not in FINAL_REASONS:
                    failed.append(task)  # a refusal or a spent budget is not replaced
                report.failed.append({"task": task.query_id, "reason": outcome.reason})
        if getattr(generator.client, "budget_exhausted", False):
            break  # no replacements once llm.max_cost / llm.max_tokens is spent
        tasks = await _supplement(generator, failed, round_number + 1) if failed else []
    if storage is not None and hasattr(storage, "flush"):
        await offload.to_thread(storage.flush)
    done, total = len(report.interactions), report.total_tasks
    log.info("batch: %d/%d interactions (%.1f%%)", done, total, 100 * report.success_rate)
    return report


async def _run_round(
    generator: TaskRunner,
    tasks: list[ConversationTask],
    show_progress: bool,
    max_workers: int,
    storage: Any,
) -> list[TaskOutcome]:
    """Tasks through `max_workers` workers; each interaction saved as soon as it exists."""
    progress = _Progress(len(tasks)) if show_progress else None

    async def one(task: ConversationTask) -> TaskOutcome:
        outcome = await generator.run_task(task)
        if outcome.interaction is not None and storage is not None:
            await offload.to_thread(storage.save, outcome.interaction)
        if progress is not None:
            progress.advance()
        return outcome

    try:
        return await bounded_map(one, tasks, max_workers)
    finally:
        if progress is not None:
            progress.stop()


async def _supplement(
    generator: TaskRunner, failed: list[ConversationTask], round_number: int
) -> list[ConversationTask]:
    """New queries (written and style-transferred) for personas whose tasks failed."""
    user = generator.settings.user_model
    handle = ModelHandle(provider=user.provider, model=user.model)
    writer = QueryWriter(generator.client, handle, max_retries=generator.settings.max_retries)
    style = StyleTransfer(generator.client, handle, max_retries=generator.settings.max_retries)
    by_persona: dict[str, list[ConversationTask]] = {}
    for task in failed:
        by_persona.setdefault(task.persona_id, []).append(task)
    new_tasks: list[ConversationTask] = []
    for pid, lost in by_persona.items():
        persona = Persona(pid, lost[0].persona_features, lost[0].system_prompt)
        try:
            queries = await writer.write(persona, len(lost), [t.original_query or "" for t in lost])
        except LLMError as exc:  # this persona stays short; the batch keeps what it has
            log.warning("supplement round %d: no new queries for %s: %s", round_number, pid, exc)
            continue
        for number, (query, old) in enumerate(zip(queries, lost, strict=False), start=1):
            record = _record(pid, query, round_number, number)
            try:
                adapted = await style.adapt_record(persona, record)
            except LLMError as exc:
                log.warning(
                    "supplement round %d: style transfer for %s: %s", round_number, pid, exc
                )
                continue
            new_tasks.append(
                generator.task(
                    pid,
                    old.persona_features,
                    adapted.initial_query,
                    system_prompt=old.system_prompt,
                    original_query=query,
                    target_turns=old.target_turns,
                    query_id=adapted.query_id,
                )
            )
    return new_tasks


def _record(pid: str, query: str, round_number: int, number: int) -> QueryRecord:
    qid = make_query_id(pid, number, prefix=f"s{round_number}_")
    return QueryRecord(qid, pid, query, source="supplement")


class _Progress:
    """A rich progress bar on stderr; a no-op counter when rich cannot render."""

    def __init__(self, total: int) -> None:
        from rich.progress import Progress

        self._progress = Progress(transient=True)
        self._task = self._progress.add_task("interactions", total=total)
        self._progress.start()

    def advance(self) -> None:
        self._progress.advance(self._task)

    def stop(self) -> None:
        self._progress.stop()
