"""`DialogueGenerator`: the report's class, a thin layer over the dialogue item logic.

It adds the report's calls as the report writes them (scenario and dialogue calls with
its signatures, persona selection, the extraction test, `is_unique` and the report's
files) to `DialogueItems`, and runs a whole batch as a plan on the one engine
(`generate_unique_dialogues`).
"""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Unpack

import numpy as np

from asyncgen import offload
from asyncgen.config import ConfigLike, RunConfig
from asyncgen.dialogue.item import DialogueItems, ItemHooks
from asyncgen.dialogue.multiwoz import (
    extract_dialogue,
    generate_base_conversation,
)
from asyncgen.dialogue.parse import (
    assign_selected_emotions,
    process_generated_dialogue,
)
from asyncgen.dialogue.plan import COUNT_NAMES, DialoguePlan, GenerationParams
from asyncgen.dialogue.store import DialogueFiles
from asyncgen.errors import ConfigError, DatasetError
from asyncgen.llm.types import RunClient
from asyncgen.personas.finepersonas import FinePersona

if TYPE_CHECKING:
    from asyncgen.dedup import VectorIndex
    from asyncgen.engine import RunSummary

log = logging.getLogger(__name__)


class DialogueGenerator(DialogueItems):
    """Generates MultiWOZ-seeded, persona-grounded service dialogues through one client."""

    def __init__(
        self, config: ConfigLike, client: RunClient | None = None, **hooks: Unpack[ItemHooks]
    ) -> None:
        """As `DialogueItems`; with no `client`, `generate_unique_dialogues` opens one itself."""
        super().__init__(config, client, **hooks)
        self.files = DialogueFiles(self.settings)
        self.similarity_bar = self.settings.similarity_threshold
        self._accepted: VectorIndex | None = None  # the dedup index `is_unique` searches
        self.last_scenario_time: dict[str, str] = {}
        self._embedder: Any = None

    # --- the report's data calls ----------------------------------------------------

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
            await offload.cpu(self.load_persona_dataset)
        rng = random.Random(seed)
        valid = self.get_categories_for_service(listservice[0]) if listservice else []
        if valid and category not in valid:
            chosen = rng.choice(valid)
            log.info("category %r is not one of %s's; using %r", category, listservice[0], chosen)
            category = chosen
        persona = self.select_random_persona(rng)
        when = self.space.random_time_slot(rng)
        plan = self._manual_plan(listservice, category, region, when.slot, when.time)
        plan = replace(plan, model_seed=seed if seed is not None else rng.getrandbits(32))
        plan = self.with_valid_category(plan)
        scenario = await self.scenario_for(plan, persona, self.lock_handle(plan))
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
        plan = self._manual_plan(
            listservice, category, regions[0], when.get("slot", ""), when.get("time", "")
        )
        named = {
            "temperature": temperature,
            "top_p": top_p,
            "frequency_penalty": frequency_penalty,
            "presence_penalty": presence_penalty,
        }
        values = {**(sampling or {}), **{k: v for k, v in named.items() if v is not None}}
        unknown = sorted(set(values) - set(named))
        if unknown:
            raise ConfigError(f"generate_dialogue: unknown sampling parameter(s): {unknown}")
        generation = replace(
            plan.generation_params, min_turns=min_turns, max_turns=max_turns, **values
        )
        plan = replace(
            plan,
            regions=tuple(regions),
            user_emotions=tuple(user_emotions),
            assistant_emotions=tuple(assistant_emotions),
            resolution_status=resolution_status,
            generation_params=generation,
        )
        _, text, _, _ = await self.dialogue_for(
            plan, scenario, prompt, self.lock_handle(plan), max_retries=max_retries
        )
        return text

    def _manual_plan(
        self, services: list[str], category: str, region: str, slot: str, time: str
    ) -> DialoguePlan:
        """A spec API call's plan: the given scene, the first value of each sampling list."""
        sampling = self.config.llm.sampling
        return DialoguePlan(
            services=tuple(services),
            scenario_category=category,
            regions=(region,),
            time_slot=slot,
            time=time,
            model_seed=0,
            service_count=COUNT_NAMES.get(len(services), ""),
            generation_params=GenerationParams(
                temperature=sampling.temperature[0],
                top_p=sampling.top_p[0],
                frequency_penalty=sampling.frequency_penalty[0],
                presence_penalty=sampling.presence_penalty[0],
                min_turns=self.settings.min_turns[0],
                max_turns=self.settings.max_turns[1],
            ),
        )

    @property
    def existing_embeddings(self) -> np.ndarray:
        """The report's `existing_embeddings`: every accepted dialogue's unit vector, one per
        row (after `generate_unique_dialogues`, the run's, in its records' order)."""
        if self._accepted is None:
            return np.zeros((0, 0), dtype=np.float32)
        return self._accepted.vectors()

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
            self._embedder = await offload.cpu(load_embedder, dedup)
            self._use_run_bar()
        text = dialogue if isinstance(dialogue, str) else record_text(dialogue, dedup) or ""
        vectors = await offload.cpu(self._embedder.encode, [text])
        return np.asarray(vectors[0], dtype=np.float32)

    async def aclose(self) -> None:
        """Stop the embedder `embed_dialogue` started (a worker process), in a worker
        thread: left to garbage collection, it would be waited for on the event loop."""
        embedder, self._embedder = self._embedder, None
        close = getattr(embedder, "close", None)
        if close is not None:
            await offload.to_thread(close)

    def is_unique(self, conversation_embedding: np.ndarray) -> bool:
        """The report's `is_unique`: no accepted dialogue reaches the similarity bar (cosine,
        searched in the dedup package's index, as the run's gate decides).

        Raises:
            ValueError: the vector's size differs from the accepted ones (another embedder:
                use `embed_dialogue`).
        """
        if self._accepted is None or not len(self._accepted):
            return True
        scores, _ = self._accepted.search(self._unit_row(conversation_embedding))
        return float(scores[0, 0]) < self.similarity_bar

    def remember(self, conversation_embedding: np.ndarray) -> None:
        """Accept a dialogue's embedding, as the report's loop does after `is_unique`."""
        from asyncgen.dedup import VectorIndex

        row = self._unit_row(conversation_embedding)
        if self._accepted is None:
            self._accepted = VectorIndex(row.shape[1])
        self._accepted.add(row, [f"remembered-{len(self._accepted)}"])

    def _unit_row(self, vector: np.ndarray) -> np.ndarray:
        """`vector` as one unit-length float32 row of the accepted ones' size."""
        from asyncgen.dedup.embedders import normalize_rows

        held = self._accepted.dim if self._accepted is not None else vector.size
        if vector.size != held:
            raise ValueError(
                f"embedding has {vector.size} dimensions, the accepted ones {held}: embed with "
                "DialogueGenerator.embed_dialogue (the run's dedup embedder)"
            )
        return normalize_rows(vector.reshape(1, -1))

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
        from asyncgen.dialogue.pipeline import DialoguePipeline
        from asyncgen.engine import RunOptions, run_generation
        from asyncgen.engine.session import execute, make_gate

        config = self._run_config(total_generations)
        pipeline = DialoguePipeline(config, generator=self)
        run_dir = Path(run_dir)
        if self.client is not None:
            summary = await run_generation(
                config,
                pipeline,
                run_dir=run_dir,
                client=self.client,
                gate=make_gate(config, run_dir),
                resume=resume,
            )
        else:  # the CLI's endpoint: the configured provider, or (no key) the simulator
            from rich.console import Console

            from asyncgen.store import RunLayout

            layout = RunLayout.in_dir(run_dir, pipeline.records_file, config.engine.log_file)
            console = Console(stderr=True)
            try:
                summary = await execute(
                    config, pipeline, layout, options=RunOptions(), console=console, resume=resume
                )
            finally:
                self.client = None  # the run's transport is closed
        await self._remember_run(run_dir)
        return summary

    def _run_config(self, total_generations: int) -> RunConfig:
        """This generator's config for a dialogue run of `total_generations`, validated
        again so every setting derived from the pipeline (the dedup bar) is resolved."""
        data = self.config.model_dump()
        data["engine"].update(n=total_generations, pipeline="dialogue")
        return RunConfig.model_validate(data)

    async def _remember_run(self, run_dir: Path) -> None:
        """Take the run's accepted embeddings (the gate's, as exported in the records'
        order), so `is_unique` answers against them."""
        index = await offload.cpu(_accepted_index, run_dir / self.settings.embedding_file)
        if index is not None:
            self._accepted = index
            self._use_run_bar()

    def _use_run_bar(self) -> None:
        """`is_unique` compares on the run's dedup embedder's scale from now on."""
        from asyncgen.dedup import effective_threshold, settings_for

        dedup = settings_for(self.config)
        self.similarity_bar = effective_threshold(dedup, dedup.embedder)

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


def _accepted_index(path: Path) -> VectorIndex | None:
    """The dedup index of an exported embedding file (None: no file, or no rows)."""
    from asyncgen.dedup import VectorIndex
    from asyncgen.dedup.embedders import normalize_rows

    if not path.is_file():
        return None
    vectors = np.load(path)
    if not len(vectors):
        return None
    rows = normalize_rows(vectors)
    index = VectorIndex(rows.shape[1])
    index.add(rows, [f"run-{i}" for i in range(len(rows))])
    return index
