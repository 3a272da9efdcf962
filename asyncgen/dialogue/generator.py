"""`DialogueGenerator`: the report's class, asyncio-native, one dialogue per coroutine.

Item planning lives in `plan.py`; this class turns one planned item into a record: the
scenario call, the dialogue call with strict validation and retried invalid formats,
per-turn emotions, optional noise, and the record's fields.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from asyncgen.config import ConfigLike, PoolEntry, RunConfig, as_run_config
from asyncgen.contract import Failure, Outcome, Reason, Record, Reject
from asyncgen.dialogue import local
from asyncgen.dialogue.multiwoz import (
    MultiWOZDataset,
    anonymize,
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
from asyncgen.dialogue.store import DialogueFiles, EmbeddingMemory
from asyncgen.errors import BudgetExceededError, DatasetError, LLMError, LLMResponseError
from asyncgen.llm.ask import ask
from asyncgen.llm.types import ChatClient, ChatRequest, ModelHandle
from asyncgen.personas.finepersonas import FinePersona, PersonaBank, load_personas

if TYPE_CHECKING:
    from asyncgen.engine import RunSummary

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class DialogueGenerator:
    """Generates MultiWOZ-seeded, persona-grounded service dialogues through one client."""

    def __init__(
        self,
        config: ConfigLike,
        client: ChatClient | None = None,
        *,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = _utcnow,
    ) -> None:
        """Bind the settings and the one chat client; datasets load on first use.

        Args:
            config: the run configuration (its `dialogue` section drives everything): a
                `RunConfig`, a dict of the same shape, or a YAML path.
            client: the transport every call goes through (set later by the pipeline);
                `generate_unique_dialogues` opens one itself when there is none.
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
        self.files = DialogueFiles(self.settings)
        self.memory = EmbeddingMemory(self.settings.similarity_threshold)
        self.noiser: Any = None
        self.last_scenario_time: dict[str, str] = {}
        self._embedder: Any = None

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
        return await asyncio.to_thread(self.load_dataset)

    async def aload_persona_dataset(self) -> PersonaBank:
        """`load_persona_dataset` in a worker thread."""
        return await asyncio.to_thread(self.load_persona_dataset)

    def load_persona_dataset(self) -> PersonaBank:
        """Load the personas once and index them by cluster and summary (the configured
        path, else the report's `./local_datasets/FinePersonas-…` folder, else the sample)."""
        if self.personas is None:
            self.personas = load_personas(local.persona_path(self.settings))
        return self.personas

    def populate_persona_dicts(self) -> None:
        """Rebuild `cluster_dict` and `summary_dict` of the loaded personas."""
        self.load_persona_dataset().populate_persona_dicts()

    def select_random_persona(self, rng: random.Random | None = None) -> FinePersona:
        """A persona by cluster or by summary, per `dialogue.persona_selection` (the
        report's call takes no argument: then a fresh draw)."""
        bank = self.load_persona_dataset()
        return bank.select_random_persona(rng or random.Random(), self.settings.persona_selection)

    def get_categories_for_service(self, service: str) -> list[str]:
        """General categories plus the service's own."""
        return self.space.get_categories_for_service(service)

    def generate_random_time(self, slot: str, rng: random.Random) -> str:
        """A concrete HH:MM inside a named time slot."""
        return self.space.generate_random_time(slot, rng)

    extract_dialogue = staticmethod(extract_dialogue)
    generate_base_conversation = staticmethod(generate_base_conversation)
    process_generated_dialogue = staticmethod(process_generated_dialogue)
    assign_selected_emotions = staticmethod(assign_selected_emotions)

    def test_single_dialogue_extraction(self, index: int = 0) -> dict[str, Any]:
        """The report's extraction test: dialogue `index` extracted and formatted.

        Raises:
            DatasetError: `index` is outside the dataset.
        """
        dataset = self.load_dataset()
        if not 0 <= index < len(dataset):
            raise DatasetError(
                f"index {index} is out of range: {dataset.source} has {len(dataset)} "
                f"dialogues (valid: 0..{len(dataset) - 1})"
            )
        base = dataset[index]
        turns = extract_dialogue(base)
        return {
            "index": index,
            "dialogue_id": base.dialogue_id,
            "services": list(base.services),
            "speakers": len({t["speaker"] for t in turns}),
            "utterances": sum(1 for t in turns if t["utterance"]),
            "turns": len(turns),
            "sha256": base.conversation_hash,
            "base_conversation": generate_base_conversation(turns),
        }

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
            raise LLMError("DialogueGenerator has no chat client")
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

        def parse(text: str) -> list[DialogueTurn]:
            try:
                return process_generated_dialogue(text, gen["min_turns"], gen["max_turns"])
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

    # --- the report's call signatures -----------------------------------------------

    async def generate_dynamic_scenario(
        self, category: str, listservice: list[str], region: str, *, seed: int | None = None
    ) -> str:
        """The report's call: a scenario with a random persona and time slot.

        A `category` that does not belong to the primary service is replaced by a random
        one that does (and logged), as in the report. `seed` makes the persona and time
        reproducible; None draws fresh ones each call. The slot and time used are kept in
        `last_scenario_time` (``{"slot": name, "time": "HH:MM"}``).

        Raises:
            LLMError: the call failed (the report returned None; here it says why).
        """
        if self.personas is None:  # a 100k-row dataset must not load on the event loop
            await asyncio.to_thread(self.load_persona_dataset)
        rng = random.Random(seed)
        valid = self.get_categories_for_service(listservice[0]) if listservice else []
        if valid and category not in valid:
            chosen = rng.choice(valid)
            log.info("category %r is not one of %s's; using %r", category, listservice[0], chosen)
            category = chosen
        persona = self.select_random_persona(rng)
        when = self.space.random_time_slot(rng)
        payload = self._manual_payload(listservice, category, region, when.slot, when.time)
        payload["model_seed"] = seed if seed is not None else rng.getrandbits(32)
        scenario = await self.scenario_for(payload, persona, self.lock_handle(payload))
        self.last_scenario_time = {"slot": when.slot, "time": when.time}
        return scenario

    async def generate_dialogue(
        self,
        listservice: list[str],
        prompt: str,
        min_turns: int,
        max_turns: int,
        temperature: float | None = None,
        top_p: float | None = None,
        frequency_penalty: float | None = None,
        presence_penalty: float | None = None,
        max_retries: int | None = None,
        user_emotions: list[str] | None = None,
        assistant_emotions: list[str] | None = None,
        scenario: str = "",
        regions: list[str] | None = None,
        *,
        resolution_status: str = "Resolved",
        sampling: dict[str, float] | None = None,
        category: str = "general_inquiry",
    ) -> str:
        """The report's call: one valid tagged dialogue for a base conversation `prompt`.

        The parameters come in the report's order, so its positional calls work. The
        sampling parameters may be given one by one or as `sampling`; those left None
        come from `llm.sampling`. Emotions and regions left None are drawn as a planned
        item's are. `max_retries` (None: `dialogue.max_retries`)
        bounds the re-asks after an invalid format; the time slot and time of the last
        `generate_dynamic_scenario` call go into the prompt.

        Raises:
            DialogueFormatError: no valid dialogue within the allowed retries.
            LLMError: a call failed after the transport's retries.
        """
        rng = random.Random()
        drawn_user, drawn_assistant = self.space.emotions(rng)
        regions = regions or [rng.choice(self.settings.regions)]
        user_emotions = user_emotions or drawn_user
        assistant_emotions = assistant_emotions or drawn_assistant
        when = self.last_scenario_time
        payload = self._manual_payload(
            listservice, category, regions[0], when.get("slot", ""), when.get("time", "")
        )
        payload.update(
            regions=regions,
            user_emotions=user_emotions,
            assistant_emotions=assistant_emotions,
            resolution_status=resolution_status,
        )
        payload["generation_params"].update(min_turns=min_turns, max_turns=max_turns)
        named = {
            "temperature": temperature,
            "top_p": top_p,
            "frequency_penalty": frequency_penalty,
            "presence_penalty": presence_penalty,
        }
        payload["generation_params"].update(sampling or {})
        payload["generation_params"].update({k: v for k, v in named.items() if v is not None})
        _, text, _, _ = await self.dialogue_for(
            payload, scenario, prompt, self.lock_handle(payload), max_retries=max_retries
        )
        return text

    def _manual_payload(
        self, services: list[str], category: str, region: str, slot: str, time: str
    ) -> dict[str, Any]:
        sampling = self.config.llm.sampling
        return {
            "services": list(services),
            "scenario_category": category,
            "regions": [region],
            "time_slot": slot,
            "time": time,
            "model_seed": 0,
            "generation_params": {
                "temperature": sampling.temperature[0],
                "top_p": sampling.top_p[0],
                "frequency_penalty": sampling.frequency_penalty[0],
                "presence_penalty": sampling.presence_penalty[0],
                "min_turns": self.settings.min_turns[0],
                "max_turns": self.settings.max_turns[1],
            },
        }

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
        }

    @property
    def existing_embeddings(self) -> np.ndarray:
        """The report's `existing_embeddings`: every accepted dialogue's vector, one per row."""
        return self.memory.existing_embeddings

    async def embed_dialogue(self, dialogue: dict[str, Any] | str) -> np.ndarray:
        """The report's conversation embedding, by the run's dedup embedder, off the loop.

        Args:
            dialogue: a dialogue record (its `turns`) or the text to embed.

        Returns:
            One normalised vector. The first call also sets `is_unique`'s bar to
            `dedup.threshold` on this embedder's scale (MiniLM's 0.9 maps per embedder).
        """
        from asyncgen.dedup import load_embedder, record_text, settings_for

        dedup = settings_for(self.config)
        if self._embedder is None:
            self._embedder = await asyncio.to_thread(load_embedder, dedup)
            self._use_run_bar()
        text = dialogue if isinstance(dialogue, str) else record_text(dialogue, dedup) or ""
        vectors = await asyncio.to_thread(self._embedder.encode, [text])
        return np.asarray(vectors[0], dtype=np.float32)

    def is_unique(self, conversation_embedding: np.ndarray) -> bool:
        """The report's `is_unique`: no accepted embedding reaches the similarity bar.

        Raises:
            ValueError: the vector's size differs from the accepted ones (another embedder:
                use `embed_dialogue`).
        """
        return self.memory.is_unique(conversation_embedding)

    def remember(self, conversation_embedding: np.ndarray) -> None:
        """Accept a dialogue's embedding, as the report's loop does after `is_unique`."""
        self.memory.add(conversation_embedding)

    # --- the whole run --------------------------------------------------------------

    async def generate_unique_dialogues(
        self, total_generations: int, run_dir: Path, *, resume: bool = False
    ) -> RunSummary:
        """Generate `total_generations` unique dialogues into `run_dir` through the engine.

        The run streams records to `records.jsonl`, rejects near-duplicates through the
        semantic gate (`similarity_threshold`), survives crashes (rerun to resume), and
        writes the report's `output_file`, `hash_file` and `embedding_file` at the end.

        Raises:
            DatasetError: more dialogues than unique base dialogues (without reuse).
        """
        config = self.config.model_copy(deep=True)
        config.engine.n = total_generations
        config.engine.pipeline = "dialogue"
        if self.client is not None:
            summary = await self._run(config, Path(run_dir), self.client, resume, simulated=False)
        else:  # the CLI's endpoint: the configured provider, or (no key) the simulator
            from rich.console import Console

            from asyncgen.engine.session import open_endpoint, open_transport

            async with (
                open_endpoint(config, Console(stderr=True)) as endpoint,
                open_transport(config, endpoint) as transport,
            ):
                self.client = transport
                try:
                    simulated = endpoint.is_simulated
                    summary = await self._run(config, Path(run_dir), transport, resume, simulated)
                finally:
                    self.client = None
        await self._remember_run(Path(run_dir))
        return summary

    async def _run(
        self, config: RunConfig, run_dir: Path, client: ChatClient, resume: bool, simulated: bool
    ) -> RunSummary:
        from asyncgen.dedup import create_gate
        from asyncgen.dialogue.pipeline import DialoguePipeline
        from asyncgen.engine import RunOptions, run_generation

        pipeline = DialoguePipeline(config, generator=self)
        return await run_generation(
            config,
            pipeline,
            run_dir=run_dir,
            client=client,
            gate=create_gate(config, run_dir),
            resume=resume,
            options=RunOptions(is_simulated=simulated),
        )

    async def _remember_run(self, run_dir: Path) -> None:
        """Load the run's accepted embeddings, so `is_unique` answers against them."""
        path = run_dir / self.settings.embedding_file
        if not path.is_file():
            return
        vectors = await asyncio.to_thread(np.load, path)
        if len(vectors):
            self.memory.existing_embeddings = np.asarray(vectors, dtype=np.float32)
            self._use_run_bar()

    def _use_run_bar(self) -> None:
        """`is_unique` compares on the run's dedup embedder's scale from now on."""
        from asyncgen.dedup import effective_threshold, settings_for

        dedup = settings_for(self.config)
        self.memory.threshold = effective_threshold(dedup, dedup.embedder)

    # --- the report's files ---------------------------------------------------------

    def save_new_dialogues(
        self, new_dialogues: list[dict[str, Any]], folder: Path | str = "."
    ) -> int:
        """Append dialogues to `output_file` and refresh `hash_file` (relative names in
        `folder`, by default the working directory, as the report's call writes them);
        returns the total."""
        return self.files.save_new_dialogues(new_dialogues, Path(folder), self.existing_hashes)

    def save_embeddings(self, embeddings: np.ndarray, folder: Path | str = ".") -> None:
        """Write dialogue embeddings to `embedding_file` (.npy; relative to `folder`)."""
        self.files.save_embeddings(embeddings, Path(folder))


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
