"""One planned dialogue item: what it does, without orchestration.

`DialogueItems` turns a planned item (`plan.py`) into a record: the scenario call, the
dialogue call with strict validation and re-asked invalid formats (`llm.ask`), per-turn
emotions, optional noise, and the record's fields. The engine runs it through
`DialoguePipeline`; the report's API (`DialogueGenerator`) builds on it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypedDict

from asyncgen import offload
from asyncgen.config import ConfigLike, PoolEntry, as_run_config
from asyncgen.contract import Failure, Outcome, Reason, Record, Reject
from asyncgen.dialogue import local
from asyncgen.dialogue.grounding import check_grounding, goal_met_at
from asyncgen.dialogue.multiwoz import (
    MultiWOZDataset,
    anonymize,
    dialogue_goal,
    extract_dialogue,
    generate_base_conversation,
    load_multiwoz,
)
from asyncgen.dialogue.parse import (
    DialogueFormatError,
    DialogueTurn,
    assign_selected_emotions,
    process_generated_dialogue,
)
from asyncgen.dialogue.plan import COUNT_NAMES, DialoguePlan
from asyncgen.dialogue.prompting import dialogue_messages, repair_messages, scenario_messages
from asyncgen.dialogue.record import DialogueRecord
from asyncgen.dialogue.space import ScenarioSpace
from asyncgen.errors import BudgetExceededError, LLMError, LLMResponseError
from asyncgen.llm.ask import ask
from asyncgen.llm.types import ChatClient, ChatRequest, ModelHandle, RunClient
from asyncgen.personas.finepersonas import FinePersona, PersonaBank, load_personas

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock (UTC), injectable for tests."""
    return datetime.now(UTC)


class ItemHooks(TypedDict, total=False):
    """What tests inject into `DialogueItems` (and its subclasses) instead of real time."""

    sleep: Sleep
    clock: Clock


class DialogueItems:
    """The per-item logic of the dialogue pipeline, bound to one client."""

    def __init__(
        self,
        config: ConfigLike,
        client: RunClient | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = utc_now,
    ) -> None:
        """Bind the settings and the one chat client; datasets load on first use.

        Args:
            config: the run configuration (its `dialogue` section drives everything): a
                `RunConfig`, a dict of the same shape, or a YAML path.
            client: the transport every call goes through (set later by the pipeline).
            sleep: the backoff sleep between invalid-format retries (injectable).
            clock: the wall clock for `created_at` (injectable).
        """
        self.config = as_run_config(config)
        self.settings = self.config.dialogue
        self.client = client
        self.space = ScenarioSpace(self.settings)
        self.sleep = sleep
        self.clock = clock
        self.dataset: MultiWOZDataset | None = None
        self.personas: PersonaBank | None = None
        self.existing_hashes: set[str] = set()
        self.noiser: Any = None

    # --- data -----------------------------------------------------------------------

    def load_dataset(self) -> MultiWOZDataset:
        """Load the base dialogues once: the configured path, else the report's
        `./local_datasets/multi_woz_v22` when it exists, else the packaged sample."""
        if self.dataset is None:
            path = local.dataset_path(self.settings)
            self.dataset = load_multiwoz(path, self.settings.dataset_split)
        return self.dataset

    async def aload_dataset(self) -> MultiWOZDataset:
        """`load_dataset` in a worker thread (blocking file reads and parsing)."""
        return await offload.cpu(self.load_dataset)

    async def aload_persona_dataset(self) -> PersonaBank:
        """`load_persona_dataset` in a worker thread."""
        return await offload.cpu(self.load_persona_dataset)

    def load_persona_dataset(self) -> PersonaBank:
        """Load the personas once and index them by cluster and summary (the configured
        path, else the report's `./local_datasets/FinePersonas-…` folder, else the sample)."""
        if self.personas is None:
            self.personas = load_personas(local.persona_path(self.settings))
        return self.personas

    # --- model calls ----------------------------------------------------------------

    def lock_handle(self, plan: DialoguePlan) -> ModelHandle:
        """One model for the whole dialogue, with the item's sampled parameters."""
        gen = plan.generation_params
        # dialogue.model is a one-entry pool, so the transport's model mix counts what is used
        pool = (
            [PoolEntry(provider=self.config.llm.provider, model=self.settings.model)]
            if self.settings.model
            else None
        )
        handle: ModelHandle | None = None
        if self.client is not None:
            rng = random.Random(plan.model_seed)
            handle = self.client.lock_model(rng, pool, draw_sampling=False)
        if handle is None:  # no client yet, or one without a pool
            model = self.settings.model or self.config.llm.model
            handle = ModelHandle(provider=self.config.llm.provider, model=model)
        return dataclasses.replace(
            handle,
            temperature=gen.temperature,
            top_p=gen.top_p,
            frequency_penalty=gen.frequency_penalty,
            presence_penalty=gen.presence_penalty,
        )

    def _client(self) -> ChatClient:
        if self.client is None:
            raise LLMError("the dialogue generator has no chat client")
        return self.client

    async def _chat(self, request: ChatRequest, handle: ModelHandle) -> tuple[str, str]:
        result = await self._client().chat(request, handle)
        return result.content, result.model

    def with_valid_category(self, plan: DialoguePlan) -> DialoguePlan:
        """The plan, its category replaced by a valid one for its primary service when it
        is not one (as the report does; drawn from the plan's model seed)."""
        rng = random.Random(plan.model_seed)
        category = self.space.valid_category(plan.scenario_category, plan.services[0], rng)
        if category == plan.scenario_category:
            return plan
        return dataclasses.replace(plan, scenario_category=category)

    async def scenario_for(
        self, plan: DialoguePlan, persona: FinePersona, handle: ModelHandle
    ) -> str:
        """The LLM-written 2-3 line scenario of a plan (category, services, persona, region,
        time); call `with_valid_category` first (the record keeps the category used).

        Raises:
            LLMError: the call failed after the transport's retries, or came back empty.
        """
        request = ChatRequest(
            messages=scenario_messages(plan, persona.persona),
            kind="dialogue_scenario",
            max_tokens=self.settings.scenario_max_tokens,
        )
        content, _ = await self._chat(request, handle)
        scenario = " ".join(content.split())
        if not scenario:
            raise LLMResponseError("empty scenario", raw=content)
        return scenario

    async def dialogue_for(
        self,
        plan: DialoguePlan,
        scenario: str,
        base: str,
        handle: ModelHandle,
        *,
        max_retries: int | None = None,
    ) -> tuple[list[DialogueTurn], str, str, int]:
        """Write a planned item's dialogue; retry invalid formats with backoff.

        Returns:
            (turns, raw text, model, attempts).

        Raises:
            DialogueFormatError: still invalid after every retry (`raw` = the last answer);
                each retry shows the model its invalid answer and what was wrong.
            LLMError: a call failed after the transport's own retries.
        """
        gen = plan.generation_params
        request = ChatRequest(
            messages=dialogue_messages(plan, scenario, base),
            kind="dialogue_generation",
            max_tokens=self.settings.dialogue_max_tokens,
            require_complete=True,
        )

        goal = plan.goal

        def parse(text: str) -> list[DialogueTurn]:
            try:
                if not goal:
                    return process_generated_dialogue(text, gen.min_turns, gen.max_turns)
                # grounded: the dialogue ends when the goal is met, maybe before min_turns
                turns = process_generated_dialogue(text, 1, gen.max_turns)
                check_grounding(turns, goal, text)
                return turns
            except DialogueFormatError as exc:
                log.info("dialogue answer invalid: %s", exc)
                raise

        answer = await ask(
            self._client(),
            request,
            handle,
            parse=parse,
            invalid=DialogueFormatError,
            repair=repair_messages,
            max_retries=self.settings.max_retries if max_retries is None else max_retries,
            backoff=lambda k: self.settings.retry_backoff * 2 ** (k - 1),
            sleep=self.sleep,
        )
        return answer.value, answer.raw, answer.model, answer.calls

    # --- one item -------------------------------------------------------------------

    async def generate_item(self, record_id: str, plan: DialoguePlan) -> Outcome:
        """Turn one planned item into a record, a failure or a reject; never raises."""
        dataset, bank = self.load_dataset(), self.load_persona_dataset()
        if plan.base_index is None or plan.base_dialogue_hash is None:
            return Failure(
                reason=Reason.BASE_EXHAUSTED,
                detail={"dataset_size": len(dataset), "source": dataset.source},
            )
        digest = plan.base_dialogue_hash
        if digest in self.existing_hashes and not self.settings.allow_base_reuse:
            return Reject(reason=Reason.DUPLICATE_BASE, data={"base_dialogue_hash": digest})
        if self.settings.allow_base_reuse:
            return await self._generate_guarded(record_id, plan, dataset, bank)
        self.existing_hashes.add(digest)
        try:
            outcome = await self._generate_guarded(record_id, plan, dataset, bank)
        except BaseException:
            self.existing_hashes.discard(digest)
            raise
        if not isinstance(outcome, Record):
            self.existing_hashes.discard(digest)
        return outcome

    async def _generate_guarded(
        self, record_id: str, plan: DialoguePlan, dataset: MultiWOZDataset, bank: PersonaBank
    ) -> Outcome:
        try:
            return await self._generate_claimed(record_id, plan, dataset, bank)
        except BudgetExceededError as exc:
            return Failure(reason=Reason.BUDGET_EXHAUSTED, message=str(exc)[:300])
        except Exception as exc:  # one broken item must not stop the run
            log.exception("dialogue %s failed unexpectedly", record_id)
            return Failure(
                reason=Reason.INTERNAL_ERROR,
                message=f"{type(exc).__name__}: {exc}"[:300],
                detail={"error": type(exc).__name__},
            )

    async def _generate_claimed(
        self, record_id: str, plan: DialoguePlan, dataset: MultiWOZDataset, bank: PersonaBank
    ) -> Outcome:
        assert plan.base_index is not None and plan.persona_index is not None
        base_row = dataset[plan.base_index]
        persona = bank.personas[plan.persona_index]
        if self.settings.grounding == "goals":
            goal = dialogue_goal(base_row)
            if not goal:
                return Reject(
                    reason=Reason.BASE_WITHOUT_GOAL,
                    message=f"base dialogue {plan.base_dialogue_id} has no annotated state",
                    data={"base_dialogue_id": plan.base_dialogue_id},
                )
            plan = dataclasses.replace(
                plan,
                goal=goal,
                services=tuple(goal),  # the dialogue is about what the user wants
                service_count=COUNT_NAMES.get(len(goal), plan.service_count),
            )
        base = generate_base_conversation(extract_dialogue(base_row))
        if self.settings.anonymize_base:
            base = anonymize(base)
        handle = self.lock_handle(plan)
        _log_plan(record_id, plan, persona, handle)
        stage = "scenario"
        try:
            plan = self.with_valid_category(plan)
            scenario = await self.scenario_for(plan, persona, handle)
            stage = "dialogue"
            turns, _, model, attempts = await self.dialogue_for(plan, scenario, base, handle)
        except DialogueFormatError as exc:
            return Reject(
                reason=Reason.INVALID_FORMAT,
                message=str(exc),
                raw=exc.raw,
                data={
                    "error": str(exc),
                    "attempts": self.settings.max_retries + 1,
                    "plan": plan.to_dict(),
                },
            )
        except LLMError as exc:
            return _failure(stage, exc)
        assign_selected_emotions(turns, list(plan.user_emotions), list(plan.assistant_emotions))
        data = self.build_record(record_id, plan, persona, scenario, turns, model)
        data["attempts"] = attempts
        if self.noiser is not None:
            await self.noiser.apply(data)
        return Record(id=record_id, data=dict(data))

    def build_record(
        self,
        record_id: str,
        plan: DialoguePlan,
        persona: FinePersona,
        scenario: str,
        turns: list[DialogueTurn],
        model: str,
    ) -> DialogueRecord:
        """The record fields agreed in the interfaces file."""
        record: DialogueRecord = {
            "dialogue_id": record_id,
            "services": list(plan.services),
            "service_count": plan.service_count,
            "turns": [t.to_dict() for t in turns],
            "num_lines": len(turns),
            "user_emotions": list(plan.user_emotions),
            "assistant_emotions": list(plan.assistant_emotions),
            "scenario_category": plan.scenario_category,
            "generated_scenario": scenario,
            "time_slot": plan.time_slot,
            "time": plan.time,
            "regions": list(plan.regions),
            "resolution_status": plan.resolution_status,
            "persona": persona.persona,
            "persona_id": persona.id,
            "persona_cluster": persona.cluster_label,
            "base_dialogue_id": plan.base_dialogue_id,
            "base_dialogue_hash": plan.base_dialogue_hash,
            "generation_params": plan.generation_params.to_dict(),
            "model": model,
            "created_at": self.clock().isoformat(),
        }
        if plan.goal:  # grounded: the goal, the turn that met it, and the grounding mode
            record["grounding"] = "goals"
            record["goal"] = {service: dict(slots) for service, slots in plan.goal.items()}
            record["goal_met_turn"] = goal_met_at(turns, plan.goal)
        return record


def _failure(stage: str, exc: LLMError) -> Failure:
    return Failure(
        reason=Reason(f"{stage}_llm_error"),
        message=f"{type(exc).__name__}: {exc}"[:300],
        attempts=int(getattr(exc, "attempts", 1) or 1),
        raw=getattr(exc, "raw", None),
        detail={"stage": stage, "error": type(exc).__name__, "message": str(exc)[:300]},
    )


def _log_plan(
    record_id: str, plan: DialoguePlan, persona: FinePersona, handle: ModelHandle
) -> None:
    """The report's per-dialogue log of its choices (DEBUG: one line per dialogue)."""
    log.debug(
        "dialogue %s: services=%s category=%s region=%s time=%s %s persona=%s "
        "emotions=%s/%s resolution=%s model=%s",
        record_id, list(plan.services), plan.scenario_category, list(plan.regions),
        plan.time_slot, plan.time, persona.id, list(plan.user_emotions),
        list(plan.assistant_emotions), plan.resolution_status, handle.model,
    )  # fmt: skip
