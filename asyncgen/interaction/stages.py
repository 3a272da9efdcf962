"""The stages before conversations: personas → queries → style transfer, resumable.

Each stage persists into the run directory (`personas.jsonl`, `queries.jsonl`) and a
rerun reuses what is there: personas are kept as written, and only personas still
short of queries get new ones.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio.abc import ObjectReceiveStream

from asyncgen import offload
from asyncgen.config import RunConfig
from asyncgen.contract import Reason
from asyncgen.engine.causes import failure_line
from asyncgen.errors import BudgetExceededError, DatasetError, LLMError
from asyncgen.interaction.personas import (
    Persona,
    load_bank,
    load_personas,
    sample_personas,
    with_system_prompt,
)
from asyncgen.interaction.queries import QueryRecord, QueryWriter, StyleTransfer, load_queries
from asyncgen.interaction.queries.model import query_id
from asyncgen.llm.types import ModelHandle, RunClient
from asyncgen.store.jsonl import append_lines, read_repaired
from asyncgen.store.rundir import RunLayout

log = logging.getLogger("asyncgen.interaction")
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class StageReport:
    """What the preparatory stages produced, and every shortfall (nothing silent)."""

    personas: int = 0
    queries: int = 0
    queries_per_persona: int = 0
    reused_personas: bool = False
    reused_queries: int = 0
    shortfalls: dict[str, int] = field(default_factory=dict)
    style_failures: int = 0
    budget_skipped: int = 0
    errors: list[str] = field(default_factory=list)
    example_answer: str | None = None


def queries_needed(config: RunConfig, num_personas: int) -> int:
    """Queries per persona: enough for `engine.n` items plus a spare share for replacements.

    A failed or duplicate conversation is replaced by a later plan item; the spare share
    (`personas.spare_query_share`) makes that item use a fresh query, as the spec's
    supplement rounds generate new queries, instead of repeating one. Sized to the plan:
    `n` items need `n × (1 + spare)` queries, whatever `queries_per_persona` says (the
    spec's API sets `n = personas × queries_per_persona`), so a 20-item trial writes 24
    queries, not 300.
    """
    total = _queries_total(config)
    return math.ceil(total / max(1, min(num_personas, total)))


def personas_needed(config: RunConfig, num_personas: int) -> int:
    """How many personas (the first ones) get queries: all (each the same number, so the
    plan's round robin gives every persona its share), unless fewer queries are needed."""
    return max(1, min(num_personas, _queries_total(config)))


def _queries_total(config: RunConfig) -> int:
    return math.ceil(config.engine.n * (1 + config.personas.spare_query_share))


async def prepare_personas(config: RunConfig, run_dir: Path, report: StageReport) -> list[Persona]:
    """Personas from personas.jsonl, else a personas file, else sampled from the bank."""
    path = RunLayout.in_dir(run_dir).personas
    rows = await offload.to_thread(read_repaired, path)
    if rows:
        personas = [Persona.from_dict(row) for row in rows]
        report.reused_personas = True
    else:
        personas = await offload.cpu(_fresh_personas, config)
        await offload.to_thread(append_lines, path, [p.to_dict() for p in personas])
    report.personas = len(personas)
    return personas


def _fresh_personas(config: RunConfig) -> list[Persona]:
    settings = config.personas
    if settings.personas_file:
        personas = load_personas(settings.personas_file)
    else:
        personas = sample_personas(
            load_bank(settings.bank_file),
            settings.num_personas,
            feature_share=settings.feature_share,
            min_differing=settings.min_differing_features,
            rng=random.Random(f"personas:{config.engine.seed}"),
        )
    if settings.personalized_system_prompt:
        personas = [with_system_prompt(p) for p in personas]
    return personas


async def prepare_queries(
    config: RunConfig,
    run_dir: Path,
    personas: list[Persona],
    client: RunClient,
    report: StageReport,
) -> list[QueryRecord]:
    """Queries for every persona, style-transferred; only what is missing is generated.

    Raises:
        DatasetError: no query at all could be produced.
        BudgetExceededError: the budget refused every query call.
    """
    path = RunLayout.in_dir(run_dir).queries
    existing = [QueryRecord.from_dict(r) for r in await offload.to_thread(read_repaired, path)]
    report.reused_queries = len(existing)
    stage = await offload.to_thread(_QueryStage, config, path, client, report)  # reads prompts
    if config.personas.queries_file and not existing:
        await stage.from_file(personas)
    else:
        await stage.generate(personas, existing)
    rows = await offload.to_thread(read_repaired, path)
    queries = _ordered([QueryRecord.from_dict(r) for r in rows], personas)
    report.queries = len(queries)
    if not queries and report.budget_skipped:
        raise BudgetExceededError(
            f"{path}: no queries could be produced: --max-cost/--max-tokens does not cover"
            " the first query call (raise it, or see --estimate)"
        )
    if not queries:
        what = f"{path}: no queries could be produced"
        tried = personas_needed(config, len(personas))
        raise DatasetError(failure_line(what, report.errors, tried, report.example_answer))
    return queries


def _ordered(queries: list[QueryRecord], personas: list[Persona]) -> list[QueryRecord]:
    """Queries in persona order then id order, one per id (a pure order for the plan)."""
    rank = {p.persona_id: i for i, p in enumerate(personas)}
    unique = {q.query_id: q for q in queries if q.persona_id in rank}
    return sorted(unique.values(), key=lambda q: (rank[q.persona_id], q.query_id))


class _QueryStage:
    """Writes and style-transfers queries per persona, bounded, appending as it goes."""

    def __init__(
        self, config: RunConfig, path: Path, client: RunClient, report: StageReport
    ) -> None:
        settings = config.interaction_generation
        handle = ModelHandle(provider=settings.user_model.provider, model=settings.user_model.model)
        self.config = config
        self.path = path
        self.report = report
        self.client = client
        self.writer = QueryWriter(client, handle, max_retries=settings.max_retries)
        self.style = StyleTransfer(client, handle, max_retries=settings.max_retries)
        self.limit = max(1, min(config.stage_workers, config.run_workers))
        self.lock = anyio.Lock()

    async def generate(self, personas: list[Persona], existing: list[QueryRecord]) -> None:
        need = queries_needed(self.config, len(personas))
        self.report.queries_per_persona = need
        latest = {q.query_id: q for q in existing}  # a later line supersedes an earlier one
        have: dict[str, list[QueryRecord]] = {}
        for q in latest.values():
            have.setdefault(q.persona_id, []).append(q)
        used = personas[: personas_needed(self.config, len(personas))]
        short = [p for p in used if len(have.get(p.persona_id, [])) < need]
        await self._adapt_deferred(personas, list(latest.values()))

        async def one(persona: Persona) -> None:
            await self._persona(persona, have.get(persona.persona_id, []), need)

        await _bounded_map(one, short, self.limit)

    async def _adapt_deferred(self, personas: list[Persona], queries: list[QueryRecord]) -> None:
        """Style-transfer the queries an earlier session's budget left unadapted."""
        by_id = {p.persona_id: p for p in personas}
        deferred = [
            q
            for q in queries
            if q.style_transfer == Reason.BUDGET_EXHAUSTED and q.persona_id in by_id
        ]
        if not deferred:
            return

        async def adapt(record: QueryRecord) -> QueryRecord:
            return await self._adapt(by_id[record.persona_id], record)

        done = await _bounded_map(adapt, deferred, self.limit)
        adapted = [r for r in done if r.style_transfer != Reason.BUDGET_EXHAUSTED]
        self.report.style_failures += sum(r.style_transfer == "failed" for r in adapted)
        async with self.lock:
            await offload.to_thread(append_lines, self.path, [r.to_dict() for r in adapted])

    async def _persona(self, persona: Persona, old: list[QueryRecord], need: int) -> None:
        if self.client.budget_exhausted:  # --max-cost holds here too
            self._budget_spent(persona.persona_id)
            return
        try:
            texts = await self.writer.write(
                persona, need - len(old), [q.original_query for q in old]
            )
        except BudgetExceededError:  # the transport refused to start the call
            self._budget_spent(persona.persona_id)
            return
        except LLMError as exc:
            self.report.errors.append(f"{persona.persona_id}: {exc}")
            self.report.example_answer = self.report.example_answer or getattr(exc, "raw", None)
            texts = []
        start = len(old) + 1
        records = [
            QueryRecord(query_id(persona.persona_id, start + i), persona.persona_id, text)
            for i, text in enumerate(texts)
        ]
        # Concurrently: independent calls (the transport's limiter bounds what is in
        # flight), and in batch mode one round for all of them rather than one per query.
        adapted = await _bounded_map(partial(self._adapt, persona), records, len(records))
        await self._keep(persona, adapted, need - len(old))

    def _budget_spent(self, what: str) -> None:
        """One line for the first call the budget stopped; a count for all of them."""
        if not self.report.budget_skipped:
            self.report.errors.append(
                f"{what}: {Reason.BUDGET_EXHAUSTED.value} (--max-cost/--max-tokens spent;"
                " later personas and style transfers not started, see budget_skipped)"
            )
        self.report.budget_skipped += 1

    async def _adapt(self, persona: Persona, record: QueryRecord) -> QueryRecord:
        """Style transfer; on a failed call the original is kept and the error reported.

        A call the budget refused leaves the query unadapted (status `budget_exhausted`):
        a resume with budget left adapts it then, without writing its query again.
        """
        if self.client.budget_exhausted:
            self._budget_spent(record.query_id)
            return replace(record, style_transfer=Reason.BUDGET_EXHAUSTED)
        try:
            return await self.style.adapt_record(persona, record)
        except BudgetExceededError:
            self._budget_spent(record.query_id)
            return replace(record, style_transfer=Reason.BUDGET_EXHAUSTED)
        except LLMError as exc:
            self.report.errors.append(f"{record.query_id}: style transfer: {exc}")
            return record.adapted(record.original_query, status="failed")

    async def _keep(self, persona: Persona, records: list[QueryRecord], wanted: int) -> None:
        self.report.style_failures += sum(r.style_transfer == "failed" for r in records)
        if len(records) < wanted:
            self.report.shortfalls[persona.persona_id] = wanted - len(records)
            log.warning("%s: %d of %d queries", persona.persona_id, len(records), wanted)
        async with self.lock:
            await offload.to_thread(append_lines, self.path, [r.to_dict() for r in records])

    async def from_file(self, personas: list[Persona]) -> None:
        source = self.config.personas.queries_file
        assert source is not None
        records = await offload.cpu(load_queries, source, personas)
        by_id = {p.persona_id: p for p in personas}

        async def adapt(record: QueryRecord) -> QueryRecord:
            if record.adapted_query is not None:
                return record
            return await self._adapt(by_id[record.persona_id], record)

        done = await _bounded_map(adapt, records, self.limit)
        self.report.style_failures += sum(r.style_transfer == "failed" for r in done)
        await offload.to_thread(append_lines, self.path, [r.to_dict() for r in done])


def stage_summary(report: StageReport) -> dict[str, Any]:
    """The report as a JSON-ready mapping (written to stages.json)."""
    return {
        "personas": report.personas,
        "queries": report.queries,
        "queries_per_persona": report.queries_per_persona,
        "reused_personas": report.reused_personas,
        "reused_queries": report.reused_queries,
        "shortfalls": report.shortfalls,
        "style_transfer_failures": report.style_failures,
        "budget_skipped": report.budget_skipped,
        "errors": report.errors,
    }


__all__ = [
    "StageReport",
    "prepare_personas",
    "prepare_queries",
    "personas_needed",
    "queries_needed",
    "stage_summary",
]


async def _bounded_map(
    func: Callable[[T], Awaitable[R]], items: Sequence[T], limit: int
) -> list[R]:
    """`[await func(x) for x in items]` with at most `limit` in flight, results in order.

    Workers pull indices from a bounded anyio memory stream (a receive clone each, closed
    when the indices are sent), so no task is created per item.
    """
    results: list[R | None] = [None] * len(items)
    send, receive = anyio.create_memory_object_stream[int](max(1, limit))

    async def worker(stream: ObjectReceiveStream[int]) -> None:
        async with stream:
            async for index in stream:
                results[index] = await func(items[index])

    async with anyio.create_task_group() as group:
        for _ in range(max(1, min(limit, len(items)))):
            group.start_soon(worker, receive.clone())
        receive.close()
        async with send:
            for index in range(len(items)):
                await send.send(index)
    return results  # type: ignore[return-value]  # every slot was filled above
