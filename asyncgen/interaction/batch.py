"""`generate_interactions_batch` as one engine run: a finite plan whose items are the tasks.

Each batch call is one run in a directory of its own (a subdirectory of the storage's
folder, else a temporary one), scheduled, written and accounted by `run_generation` like
any run. A failed conversation is replaced inside its item: a new query for the same
persona, written and style-transferred, up to `max_supplement_rounds` times.
"""

from __future__ import annotations

import hashlib
import logging
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncgen import offload
from asyncgen.contract import Outcome, PipelineBase, PipelineTraits, Record, RunContext, WorkItem
from asyncgen.errors import BudgetExceededError, LLMError
from asyncgen.interaction.conversation import ConversationTask
from asyncgen.interaction.outcome import FINAL_REASONS, TaskOutcome, TaskRunner, record_entry
from asyncgen.interaction.personas.model import Persona
from asyncgen.interaction.queries import QueryRecord, QueryWriter, StyleTransfer
from asyncgen.interaction.queries.model import query_id as make_query_id
from asyncgen.interaction.records import Interaction
from asyncgen.llm.types import ModelHandle
from asyncgen.store.jsonl import iter_jsonl
from asyncgen.store.rundir import RECORDS_FILE, RunLayout

if TYPE_CHECKING:
    from asyncgen.engine import RunSummary
    from asyncgen.interaction.storage import InteractionStorage

log = logging.getLogger("asyncgen.interaction")


@dataclass
class BatchReport:
    """What a batch produced; `total_tasks` and `success_rate` count replacement tasks too."""

    interactions: list[Interaction] = field(default_factory=list)
    total_tasks: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    supplement_rounds: int = 0
    run_dir: str | None = None
    summary: RunSummary | None = None

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


class BatchPipeline(PipelineBase):
    """The engine plug-in for one batch: item *i* is task *i*, replaced in place on failure."""

    name = "interaction_batch"
    records_file = RECORDS_FILE

    def __init__(self, generator: TaskRunner, tasks: list[ConversationTask]) -> None:
        self.generator = generator
        self.tasks = tasks
        self.report = BatchReport()
        seen: Counter[str] = Counter()
        self._numbers: list[
            int
        ] = []  # task i's place among its persona's tasks: its replacements' ids
        for task in tasks:
            seen[task.persona_id] += 1
            self._numbers.append(seen[task.persona_id])
        self._writer: QueryWriter | None = None
        self._style: StyleTransfer | None = None

    def traits(self) -> PipelineTraits:
        """A finite plan of the tasks; replacements happen inside an item, never as new ones."""
        return PipelineTraits(
            plan_size=len(self.tasks), index_key="interactions", supplements=False
        )

    async def prepare(self, ctx: RunContext) -> None:
        """The query writer and style transfer replacements use (prompts read off the loop)."""
        settings = self.generator.settings
        handle = ModelHandle(provider=settings.user_model.provider, model=settings.user_model.model)
        retries = settings.max_retries
        self._writer, self._style = await offload.to_thread(
            lambda: (
                QueryWriter(ctx.client, handle, max_retries=retries),
                StyleTransfer(ctx.client, handle, max_retries=retries),
            )
        )

    def plan_fingerprint(self) -> dict[str, Any]:
        """A digest of the tasks' ids (a batch's directory holds that batch only)."""
        ids = "\n".join(str(task.interaction_id) for task in self.tasks)
        return {"tasks": len(self.tasks), "sha256": hashlib.sha256(ids.encode()).hexdigest()}

    def plan_item(self, index: int) -> WorkItem[None]:
        """Task `index` (the item's index), under its interaction id."""
        task = self.tasks[index]
        return WorkItem(index=index, seed=0, payload=None, id=task.interaction_id)

    async def run_item(self, item: WorkItem[None], ctx: RunContext) -> Outcome:
        """The task, then new queries for the same persona while it fails and rounds remain.

        A refused request or a spent budget is not replaced; when no new query can be
        written the persona stays short and the last failure stands.
        """
        first = self.tasks[item.index]
        task: ConversationTask | None = first
        tried = [first.original_query or first.initial_query]
        rounds = self.generator.settings.max_supplement_rounds
        outcome = TaskOutcome(None, 0)
        for round_number in range(rounds + 1):
            if task is None:
                break
            self.report.total_tasks += 1
            outcome = await self.generator.run_task(task)
            if outcome.interaction is not None:
                self.report.supplement_rounds = max(self.report.supplement_rounds, round_number)
                break
            self.report.failed.append({"task": task.query_id, "reason": outcome.reason})
            if outcome.reason in FINAL_REASONS or round_number == rounds:
                break
            task = await self._replacement(
                first, self._numbers[item.index], round_number + 1, tried
            )
        return outcome.to_outcome(item.record_id)

    async def _replacement(
        self, first: ConversationTask, number: int, round_number: int, tried: list[str]
    ) -> ConversationTask | None:
        """A new query (written, then style-transferred) for the persona of a failed task;
        None when none can be written (a failed call, repeats only, or a spent budget)."""
        pid = first.persona_id
        persona = Persona(pid, first.persona_features, first.system_prompt)
        assert self._writer is not None and self._style is not None, "prepare() runs first"
        try:
            written = await self._writer.write(persona, 1, tried)
            if written:
                tried.append(written[0])
                qid = make_query_id(pid, number, prefix=f"s{round_number}_")
                record = QueryRecord(qid, pid, written[0], source="supplement")
                adapted = await self._style.adapt_record(persona, record)
        except (LLMError, BudgetExceededError) as exc:  # the persona stays short
            log.warning("supplement round %d: no new query for %s: %s", round_number, pid, exc)
            return None
        if not written:
            log.warning(
                "supplement round %d: no new query for %s (only repeats)", round_number, pid
            )
            return None
        return self.generator.task(
            pid,
            first.persona_features,
            adapted.initial_query,
            system_prompt=first.system_prompt,
            original_query=written[0],
            target_turns=first.target_turns,
            query_id=adapted.query_id,
        )

    def index_entry(self, record: Record) -> dict[str, Any]:
        """The spec's index fields; `filepath` is the batch's records file."""
        return record_entry(record, self.records_file)


async def run_batch(
    generator: TaskRunner,
    personas_with_queries: Sequence[dict[str, Any]],
    *,
    show_progress: bool,
    max_workers: int,
    storage: InteractionStorage | None,
) -> BatchReport:
    """Run the tasks as one engine run; the interactions come back from its records."""
    from asyncgen.engine import RunOptions, run_generation

    pipeline = BatchPipeline(generator, build_tasks(generator, personas_with_queries))
    if not pipeline.tasks:
        return pipeline.report
    config = generator.config.model_copy(deep=True)
    config.engine.n = len(pipeline.tasks)
    config.engine.max_workers = max_workers
    config.report.refresh_during_run = False  # an API call, not a run someone watches
    if storage is not None:
        run_dir = storage.output_dir / generator.run_name()
    else:
        run_dir = Path(await offload.to_thread(tempfile.mkdtemp, None, "asyncgen-batch-"))
    options = RunOptions(
        quiet=not show_progress, is_simulated=generator.is_simulated, title="interactions"
    )
    try:
        summary = await run_generation(
            config, pipeline, run_dir=run_dir, client=generator.client, options=options
        )
        report = pipeline.report
        report.summary = summary
        report.interactions = await offload.to_thread(_interactions, run_dir, pipeline.tasks)
        if storage is not None:
            report.run_dir = str(run_dir)
            await offload.to_thread(storage.adopt_run, run_dir)
    finally:
        if storage is None:
            await offload.to_thread(shutil.rmtree, run_dir, True)
    done, total = len(report.interactions), report.total_tasks
    log.info("batch: %d/%d interactions (%.1f%%)", done, total, 100 * report.success_rate)
    return report


def _interactions(run_dir: Path, tasks: list[ConversationTask]) -> list[Interaction]:
    """The run's interactions as written, in task order."""
    position = {task.interaction_id: i for i, task in enumerate(tasks)}
    found = [
        (position.get(str(data.get("id")), len(tasks)), Interaction.from_dict(data))
        for _, data in iter_jsonl(RunLayout.in_dir(run_dir).records)
    ]
    return [interaction for _, interaction in sorted(found, key=lambda pair: pair[0])]
