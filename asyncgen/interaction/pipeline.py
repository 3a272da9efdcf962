"""`InteractionPipeline`: the interaction pipeline as a plug-in to the run engine.

`prepare` runs the resumable stages (personas → queries → style transfer) into the run
directory; item *i* picks a query (every query once per cycle, in a seeded order), a
target turn count, which user turns get noise and the seed that locks the model; each
item becomes one conversation through the one transport.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from pathlib import Path
from typing import Any

import anyio
import orjson

from asyncgen import offload
from asyncgen.config import RunConfig
from asyncgen.contract import (
    Failure,
    Outcome,
    PipelineTraits,
    Reason,
    Record,
    RunContext,
    WorkItem,
)
from asyncgen.errors import AsyncgenError, StoreError
from asyncgen.interaction.conversation import ConversationTask
from asyncgen.interaction.distractor import create_distractor_model
from asyncgen.interaction.item import ConversationRunner, build_parts
from asyncgen.interaction.outcome import record_entry
from asyncgen.interaction.personas import Persona
from asyncgen.interaction.plan import ConversationPlan
from asyncgen.interaction.queries import QueryRecord
from asyncgen.interaction.records import iso, utc_now
from asyncgen.interaction.stages import (
    StageReport,
    personas_needed,
    prepare_personas,
    prepare_queries,
    queries_needed,
    stage_summary,
)
from asyncgen.interaction.training import export_training_data, finished_complete
from asyncgen.interaction.turns import TurnMix
from asyncgen.store.atomic import write_bytes_atomic
from asyncgen.store.rundir import RECORDS_FILE, RunLayout

log = logging.getLogger("asyncgen.interaction")


class InteractionPipeline:
    """Personas, queries in their voice, and multi-turn conversations with a simulated user."""

    name = "interaction"
    records_file = RECORDS_FILE

    def __init__(self, config: RunConfig) -> None:
        """Bind to the run config; nothing is loaded until `prepare`."""
        self.config = config
        self.personas: list[Persona] = []
        self.queries: list[QueryRecord] = []
        self.report = StageReport()
        self._by_persona: dict[str, Persona] = {}
        self._by_query: dict[str, QueryRecord] = {}
        self._orders: dict[int, list[int]] = {}
        self._runner: ConversationRunner | None = None
        self._run_dir: Path | None = None
        self._started = ""
        self.training: dict[str, Any] | None = None
        self.turns = TurnMix(config.interaction_generation)

    async def prepare(self, ctx: RunContext) -> None:
        """Run (or resume) personas → queries → style transfer; write stages.json.

        Raises:
            ConfigError: personas cannot be sampled with these settings.
            DatasetError: a persona or query file is malformed, or no query was produced.
        """
        self.report = StageReport()
        self._run_dir, self._started = ctx.run_dir, iso(utc_now())
        await anyio.Path(ctx.run_dir).mkdir(parents=True, exist_ok=True)
        self.personas = await prepare_personas(self.config, ctx.run_dir, self.report)
        self.queries = await prepare_queries(
            self.config, ctx.run_dir, self.personas, ctx.client, self.report
        )
        self._by_persona = {p.persona_id: p for p in self.personas}
        self._by_query = {q.query_id: q for q in self.queries}
        self._orders.clear()
        await offload.to_thread(self._runner_for, ctx)  # prompts read now: a bad one fails early
        blob = orjson.dumps(stage_summary(self.report), option=orjson.OPT_INDENT_2)
        stages = RunLayout.in_dir(ctx.run_dir).stages
        await offload.to_thread(write_bytes_atomic, stages, blob)
        ctx.logger.info(
            "interaction stages: %d personas, %d queries", len(self.personas), len(self.queries)
        )

    def stage_counts(self) -> dict[str, tuple[int | None, int | None]]:
        """The stages' expected totals for the progress display (done None: the ledger's
        requests of that kind): personas, then one query call per persona and one style
        transfer per query."""
        settings = self.config.personas
        personas = len(self.personas) or (0 if settings.personas_file else settings.num_personas)
        counts: dict[str, tuple[int | None, int | None]] = {
            "personas": (len(self.personas), personas or None)
        }
        if personas and not settings.queries_file:
            used = personas_needed(self.config, personas)
            counts["queries"] = (None, used)
            counts["style transfer"] = (None, used * queries_needed(self.config, personas))
        return counts

    def plan_fingerprint(self) -> dict[str, Any]:
        """Settings that shape the plan (personas, queries, turns, noise, models)."""
        cfg = self.config
        gen = cfg.interaction_generation
        return {
            "plan_order": "persona-balanced",
            "personas": cfg.personas.model_dump(),
            "turns": [gen.min_turns, gen.max_turns],
            **self._turn_mix_fingerprint(),
            "distractor": cfg.distractor.model_dump(),
            "assistant_model": gen.assistant_model.model_dump(),
            "user_model": gen.user_model.model_dump(),
        }

    def _turn_mix_fingerprint(self) -> dict[str, Any]:
        """The turn policy and weights, when not the spec's (older runs keep their plan)."""
        gen = self.config.interaction_generation
        if gen.turn_policy == "natural" and gen.turn_weights is None:
            return {}
        weights = {str(k): w for k, w in sorted((gen.turn_weights or {}).items())}
        return {"turn_mix": {"policy": gen.turn_policy, "weights": weights}}

    def record_dropped(self, record: dict[str, Any]) -> None:
        """A record the judge or the uniqueness gate rejected no longer counts in the mix."""
        target, turns = _turns_of(record)
        if turns is not None:
            self.turns.uncount(target, turns)

    def summary_figures(self) -> dict[str, Any]:
        """summary.json's pipeline figures: the turn mix, realised against target."""
        return {"turn_mix": self.turns.figures()}

    def plan_item(self, index: int) -> WorkItem[ConversationPlan]:
        """Item `index`: a pure function of (config, seed, index) over the prepared queries.

        Raises:
            StoreError: `prepare` has not run.
        """
        if not self.queries:
            raise StoreError("interaction pipeline: plan_item before prepare()")
        seed = self.config.engine.seed
        cycle, slot = divmod(index, len(self.queries))
        query = self.queries[self._order(cycle)[slot]]
        rng = random.Random(f"interaction:{seed}:{index}")
        target = self.turns.planned(seed, index, rng)
        plan = ConversationPlan(
            persona_id=query.persona_id,
            query_id=query.query_id,
            cycle=cycle,
            target_turns=target,
            noise_turns=tuple(self._noise_turns(target, rng)),
            model_seed=f"model:{seed}:{index}",
            conversation_seed=f"conversation:{seed}:{index}",
        )
        return WorkItem(index=index, seed=seed, payload=plan)

    def _order(self, cycle: int) -> list[int]:
        """A seeded, persona-balanced permutation of the queries for one cycle (cached).

        Round robin over the personas (in a seeded order), each persona's queries in a
        seeded order: the first k × personas items give every persona k conversations, so
        `n = personas × queries_per_persona` gives each exactly its share, and the spare
        queries that replacements draw on are spread over the personas the same way.
        """
        order = self._orders.get(cycle)
        if order is None:
            rng = random.Random(f"order:{self.config.engine.seed}:{cycle}")
            by_persona: dict[str, list[int]] = {}
            for position, query in enumerate(self.queries):
                by_persona.setdefault(query.persona_id, []).append(position)
            lanes = list(by_persona.values())
            rng.shuffle(lanes)
            for lane in lanes:
                rng.shuffle(lane)
            order = [
                lane[r] for r in range(max(map(len, lanes))) for lane in lanes if r < len(lane)
            ]
            self._orders[cycle] = order
        return order

    def _noise_turns(self, target: int, rng: random.Random) -> list[int]:
        """User turns (1-based) that get noise, drawn by noise_probability and apply_to."""
        noise = self.config.distractor
        turns = []
        for turn in range(1, target + 1):
            where = "initial_query" if turn == 1 else "followups"
            draw = rng.random()
            if noise.enabled and where in noise.apply_to and draw < noise.noise_probability:
                turns.append(turn)
        return turns

    def traits(self) -> PipelineTraits:
        """The spec's index key, and its own limit on replacement rounds."""
        rounds = self.config.interaction_generation.max_supplement_rounds
        return PipelineTraits(index_key="interactions", max_supplement_rounds=rounds)

    async def run_item(self, item: WorkItem[ConversationPlan], ctx: RunContext) -> Outcome:
        """One conversation; a failure keeps its reason and raw text, never raises."""
        realised: int | None = None
        target = self.turns.choose(item.payload.target_turns)
        self.turns.start(target)
        try:
            task = dataclasses.replace(self.task(item), target_turns=target)
            outcome = await self._runner_for(ctx).run(task)
            if outcome.interaction is not None:
                realised = outcome.interaction.num_turns
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # one broken item must not stop the run
            ctx.logger.exception("item %s failed unexpectedly", item.record_id)
            message = f"{type(exc).__name__}: {exc}"
            return Failure(Reason.INTERNAL_ERROR, message=message, detail={"error": message})
        finally:
            self.turns.end(target, realised)
        return outcome.to_outcome(item.record_id)

    def task(self, item: WorkItem[ConversationPlan]) -> ConversationTask:
        """The conversation task an item describes."""
        p = item.payload
        query = self._by_query[p.query_id]
        persona = self._by_persona[p.persona_id]
        return ConversationTask(
            persona_id=persona.persona_id,
            persona_features=dict(persona.features),
            initial_query=query.initial_query,
            original_query=query.original_query,
            system_prompt=persona.system_prompt,
            target_turns=p.target_turns,
            query_id=query.query_id,
            interaction_id=f"interaction_{persona.persona_id}_{item.record_id}",
            seed=p.conversation_seed,
            noise_turns=frozenset(p.noise_turns),
            model_seed=p.model_seed,
            extra={"style_transfer": query.style_transfer, "cycle": p.cycle},
        )

    def _runner_for(self, ctx: RunContext) -> ConversationRunner:
        """The conversation runner on the run's client (rebuilt if the client changed)."""
        if self._runner is None or self._runner.client is not ctx.client:
            distractor = create_distractor_model(
                self.config, client=ctx.client, seed=self.config.engine.seed
            )
            parts = build_parts(self.config, ctx.client, distractor, utc_now)
            self._runner = ConversationRunner(parts, ctx.client, anyio.sleep)
        return self._runner

    async def aclose(self) -> None:
        """After a session that completed the run, export training data (the last stage).

        An export error is logged, not raised: the records are safe on disk and
        `asyncgen export RUN_DIR` can be rerun.
        """
        run_dir = self._run_dir
        if run_dir is None or not self.config.interaction_generation.export_training_data:
            return
        if not await offload.to_thread(finished_complete, run_dir, self._started):
            return
        try:
            self.training = await offload.to_thread(export_training_data, self.config, run_dir)
        except AsyncgenError as exc:
            log.error("training data export failed: %s (rerun: asyncgen export %s)", exc, run_dir)
            return
        log.info("training data: %s", self.training["output_dir"])

    def restore(self, record: dict[str, Any]) -> None:
        """Re-learn the realised turn mix (items are otherwise independent)."""
        target, turns = _turns_of(record)
        if turns is not None:
            self.turns.count(target, turns)

    def index_entry(self, record: Record) -> dict[str, Any]:
        """The spec's index fields; `filepath` is the file holding the record."""
        return record_entry(record, self.records_file)

    def dedup_text(self, record: Record) -> str | None:
        """The text embedded for near-duplicate checks: `dedup.embed`, `first_k`, `max_chars`."""
        from asyncgen.dedup import record_text, settings_for

        return record_text(record.data, settings_for(self.config))


def _turns_of(record: dict[str, Any]) -> tuple[int, int | None]:
    """A record's (target, realised) turn counts; realised None when it has none."""
    turns = record.get("num_turns")
    if not isinstance(turns, int):
        return 0, None
    target = (record.get("metadata") or {}).get("target_turns")
    return (target if isinstance(target, int) else turns), turns
