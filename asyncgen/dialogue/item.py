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
from typing import TYPE_CHECKING, Any

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
from asyncgen.dialogue.prompting import dialogue_messages, repair_messages, scenario_messages
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

    def lock_handle(self, payload: dict[str, Any]) -> ModelHandle:
        """One model for the whole dialogue, with the item's sampled parameters."""
        gen = payload["generation_params"]
        lock = getattr(self.client, "lock_model", None)
        # dialogue.model is a one-entry pool, so the transport's model mix counts what is used
        pool = (
            [PoolEntry(provider=self.config.llm.provider, model=self.settings.model)]
            if self.settings.model
            else None
        )
        if callable(lock):
            rng = random.Random(payload["model_seed"])
            handle: ModelHandle = lock(rng, pool, draw_sampling=False)
        else:
            model = self.settings.model or self.config.llm.model
            handle = ModelHandle(provider=self.config.llm.provider, model=model)
        return dataclasses.replace(
            handle,
            temperature=gen["temperature"],
            top_p=gen["top_p"],
            frequency_penalty=gen["frequency_penalty"],
            presence_penalty=gen["presence_penalty"],
        )

    def _client(self) -> ChatClient:
        if self.client is None:
            raise LLMError("the dialogue generator has no chat client")
        return self.client

    async def _chat(self, request: ChatRequest, handle: ModelHandle) -> tuple[str, str]:
        result = await self._client().chat(request, handle)
        return result.content, result.model

    async def scenario_for(
        self, payload: dict[str, Any], persona: FinePersona, handle: ModelHandle
    ) -> str:
        """The LLM-written 2-3 line scenario of a planned item (category, services, persona,
        region, time); an invalid category is replaced by a valid one, as the report does.

        Raises:
            LLMError: the call failed after the transport's retries, or came back empty.
        """
        primary = payload["services"][0]
        rng = random.Random(payload["model_seed"])
        category = self.space.valid_category(payload["scenario_category"], primary, rng)
        payload["scenario_category"] = category
        request = ChatRequest(
            messages=scenario_messages(payload, persona.persona),
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
        payload: dict[str, Any],
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
        gen = payload["generation_params"]
        request = ChatRequest(
            messages=dialogue_messages(payload, scenario, base),
            kind="dialogue_generation",
            max_tokens=self.settings.dialogue_max_tokens,
            require_complete=True,
        )

        goal = payload.get("goal")

        def parse(text: str) -> list[DialogueTurn]:
            try:
                if not goal:
                    return process_generated_dialogue(text, gen["min_turns"], gen["max_turns"])
                # grounded: the dialogue ends when the goal is met, maybe before min_turns
                turns = process_generated_dialogue(text, 1, gen["max_turns"])
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

    async def generate_item(self, record_id: str, payload: dict[str, Any]) -> Outcome:
        """Turn one planned item into a record, a failure or a reject; never raises."""
        dataset, bank = self.load_dataset(), self.load_persona_dataset()
        if payload.get("base_index") is None:
            return Failure(
                reason=Reason.BASE_EXHAUSTED,
                detail={"dataset_size": len(dataset), "source": dataset.source},
            )
        digest = payload["base_dialogue_hash"]
        if digest in self.existing_hashes and not self.settings.allow_base_reuse:
            return Reject(reason=Reason.DUPLICATE_BASE, data={"base_dialogue_hash": digest})
        if self.settings.allow_base_reuse:
            return await self._generate_guarded(record_id, payload, dataset, bank)
        self.existing_hashes.add(digest)
        try:
            outcome = await self._generate_guarded(record_id, payload, dataset, bank)
        except BaseException:
            self.existing_hashes.discard(digest)
            raise
        if not isinstance(outcome, Record):
            self.existing_hashes.discard(digest)
        return outcome

    async def _generate_guarded(
        self, record_id: str, payload: dict[str, Any], dataset: MultiWOZDataset, bank: PersonaBank
    ) -> Outcome:
        try:
            return await self._generate_claimed(record_id, payload, dataset, bank)
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
        self, record_id: str, payload: dict[str, Any], dataset: MultiWOZDataset, bank: PersonaBank
    ) -> Outcome:
        payload = dict(payload)
        persona = bank.personas[payload["persona_index"]]
        if self.settings.grounding == "goals":
            goal = dialogue_goal(dataset[payload["base_index"]])
            if not goal:
                return Reject(
                    reason=Reason.BASE_WITHOUT_GOAL,
                    message=f"base dialogue {payload['base_dialogue_id']} has no annotated state",
                    data={"base_dialogue_id": payload["base_dialogue_id"]},
                )
            payload["goal"] = goal
            payload["services"] = list(goal)  # the dialogue is about what the user wants
            payload["service_count"] = _COUNT_NAMES.get(len(goal), payload["service_count"])
        base = generate_base_conversation(extract_dialogue(dataset[payload["base_index"]]))
        if self.settings.anonymize_base:
            base = anonymize(base)
        handle = self.lock_handle(payload)
        _log_plan(record_id, payload, persona, handle)
        stage = "scenario"
        try:
            scenario = await self.scenario_for(payload, persona, handle)
            stage = "dialogue"
            turns, _, model, attempts = await self.dialogue_for(payload, scenario, base, handle)
        except DialogueFormatError as exc:
            return Reject(
                reason=Reason.INVALID_FORMAT,
                message=str(exc),
                raw=exc.raw,
                data={
                    "error": str(exc),
                    "attempts": self.settings.max_retries + 1,
                    "plan": payload,
                },
            )
        except LLMError as exc:
            return _failure(stage, exc)
        assign_selected_emotions(turns, payload["user_emotions"], payload["assistant_emotions"])
        data = self.build_record(record_id, payload, persona, scenario, turns, model)
        data["attempts"] = attempts
        if self.noiser is not None:
            await self.noiser.apply(data, payload)
        return Record(id=record_id, data=data)

    def build_record(
        self,
        record_id: str,
        payload: dict[str, Any],
        persona: FinePersona,
        scenario: str,
        turns: list[DialogueTurn],
        model: str,
    ) -> dict[str, Any]:
        """The record fields agreed in the interfaces file."""
        return {
            "dialogue_id": record_id,
            "services": payload["services"],
            "service_count": payload["service_count"],
            "turns": [t.to_dict() for t in turns],
            "num_lines": len(turns),
            "user_emotions": payload["user_emotions"],
            "assistant_emotions": payload["assistant_emotions"],
            "scenario_category": payload["scenario_category"],
            "generated_scenario": scenario,
            "time_slot": payload["time_slot"],
            "time": payload["time"],
            "regions": payload["regions"],
            "resolution_status": payload["resolution_status"],
            "persona": persona.persona,
            "persona_id": persona.id,
            "persona_cluster": persona.cluster_label,
            "base_dialogue_id": payload["base_dialogue_id"],
            "base_dialogue_hash": payload["base_dialogue_hash"],
            "generation_params": dict(payload["generation_params"]),
            "model": model,
            "created_at": self.clock().isoformat(),
            **_grounding_fields(payload, turns),
        }


_COUNT_NAMES = {1: "single", 2: "double", 3: "triple", 4: "quadruple"}


def _grounding_fields(payload: dict[str, Any], turns: list[DialogueTurn]) -> dict[str, Any]:
    """A grounded dialogue's goal, the turn that met it, and the grounding mode."""
    goal = payload.get("goal")
    if not goal:
        return {}
    return {"grounding": "goals", "goal": goal, "goal_met_turn": goal_met_at(turns, goal)}


def _failure(stage: str, exc: LLMError) -> Failure:
    return Failure(
        reason=Reason(f"{stage}_llm_error"),
        message=f"{type(exc).__name__}: {exc}"[:300],
        attempts=int(getattr(exc, "attempts", 1) or 1),
        raw=getattr(exc, "raw", None),
        detail={"stage": stage, "error": type(exc).__name__, "message": str(exc)[:300]},
    )


def _log_plan(
    record_id: str, payload: dict[str, Any], persona: FinePersona, handle: ModelHandle
) -> None:
    """The report's per-dialogue log of its choices (DEBUG: one line per dialogue)."""
    log.debug(
        "dialogue %s: services=%s category=%s region=%s time=%s %s persona=%s "
        "emotions=%s/%s resolution=%s model=%s",
        record_id, payload["services"], payload["scenario_category"], payload["regions"],
        payload["time_slot"], payload["time"], persona.id, payload["user_emotions"],
        payload["assistant_emotions"], payload["resolution_status"], handle.model,
    )  # fmt: skip
