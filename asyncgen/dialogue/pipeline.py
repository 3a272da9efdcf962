"""`DialoguePipeline`: the dialogue generator as a plug-in to the run engine."""

from __future__ import annotations

import logging
from pathlib import Path

from asyncgen import offload
from asyncgen.config import RunConfig
from asyncgen.contract import Outcome, PipelineBase, Record, RunContext, WorkItem
from asyncgen.dialogue.item import DialogueItems
from asyncgen.dialogue.plan import DialoguePlan, DialoguePlanner
from asyncgen.dialogue.store import export_run
from asyncgen.errors import DatasetError
from asyncgen.jsontypes import JsonObject
from asyncgen.store.rundir import RECORDS_FILE

FINGERPRINT_EXCLUDES = {
    "output_file", "hash_file", "embedding_file", "max_retries", "retry_backoff",
    "scenario_max_tokens", "dialogue_max_tokens", "model", "apply_noise",
    "similarity_threshold", "anonymize_base", "dataset_path", "persona_path", "dataset_name",
}  # fmt: skip


class DialoguePipeline(PipelineBase):
    """Plans MultiWOZ-seeded dialogues and runs each through `DialogueItems` (the report's
    `DialogueGenerator` passes itself, so its state follows the run).

    `dialogue.similarity_threshold` (the report's parameter) is the run's semantic
    dedup threshold: the config resolves it into `dedup.threshold` when it is built.
    """

    name = "dialogue"
    records_file = RECORDS_FILE

    def __init__(self, config: RunConfig, generator: DialogueItems | None = None) -> None:
        self.config = config
        self.seed = config.engine.seed
        self.generator = generator or DialogueItems(config)
        self._planner: DialoguePlanner | None = None
        self._run_dir: Path | None = None

    def stage_counts(self) -> dict[str, tuple[int | None, int | None]]:
        """One scenario call per dialogue: its total for the progress display."""
        return {"dialogue scenarios": (None, self.config.engine.n)}

    @property
    def planner(self) -> DialoguePlanner:
        """The plan, built on first use from the loaded datasets."""
        if self._planner is None:
            dataset = self.generator.load_dataset()
            personas = self.generator.load_persona_dataset()
            self._planner = DialoguePlanner(self.config, self.seed, dataset, personas)
        return self._planner

    async def prepare(self, ctx: RunContext) -> None:
        """Load datasets off the loop; refuse a run larger than the base dataset allows.

        Raises:
            DatasetError: `engine.n` exceeds the unique base dialogues without reuse.
        """
        await offload.cpu(self._warm_plan)
        self.generator.client = ctx.client
        self._check_capacity(self.config.engine.n, ctx.logger)
        if self.config.dialogue.apply_noise:
            from asyncgen.dialogue.noise import DialogueNoiser

            self.generator.noiser = DialogueNoiser(self.config, ctx.client, self.seed)
        ctx.logger.info(
            "dialogue: %d base dialogues (%d unique) from %s; %d personas",
            len(self.planner.dataset),
            len(self.planner.unique_bases),
            self.planner.dataset.source,
            len(self.planner.personas),
        )
        self._run_dir = ctx.run_dir  # only a prepared run exports the report's files

    def _warm_plan(self) -> None:
        """Load the datasets and build the first base-dialogue pass (CPU work, off-loop)."""
        if self.planner.unique_bases:
            self.planner.base_index(0)

    def _check_capacity(self, n: int, logger: logging.Logger) -> None:
        capacity = self.planner.capacity
        if capacity is None:
            return
        if n > capacity:
            raise DatasetError(
                f"--n {n} needs {n} distinct base dialogues but {self.planner.dataset.source} "
                f"has {capacity} unique ones; pass a larger --dataset-path or set "
                "dialogue.allow_base_reuse: true"
            )
        if n > 0.9 * capacity:
            logger.warning(
                "dialogue: --n %d leaves %d spare base dialogues for replacing failed or "
                "rejected items; a larger dataset avoids a short run",
                n,
                capacity - n,
            )

    def plan_fingerprint(self) -> JsonObject:
        """Settings and data that change the plan (datasets by content, not by path)."""
        settings = self.config.dialogue.model_dump(mode="json", exclude=FINGERPRINT_EXCLUDES)
        return {
            "pipeline": self.name,
            "seed": self.seed,
            "dialogue": settings,
            "sampling": self.config.llm.sampling.model_dump(mode="json"),
            "dataset": self.planner.dataset.fingerprint(),
            "personas": self.planner.personas.fingerprint(),
        }

    def plan_item(self, index: int) -> WorkItem[DialoguePlan]:
        """Item `index`: services, status, base dialogue, persona, emotions, parameters."""
        return WorkItem(index=index, seed=self.seed, payload=self.planner.payload(index))

    async def run_item(self, item: WorkItem[DialoguePlan], ctx: RunContext) -> Outcome:
        """Scenario, then the dialogue; a Record, or a Failure/Reject with the reason."""
        self.generator.client = ctx.client  # every call goes through the run's one client
        return await self.generator.generate_item(item.record_id, item.payload)

    def restore(self, record: JsonObject) -> None:
        """Re-learn the base dialogues already used by finished records."""
        digest = record.get("base_dialogue_hash")
        if isinstance(digest, str) and digest:
            self.generator.existing_hashes.add(digest)

    def index_entry(self, record: Record) -> JsonObject:
        """The record's line in index.json."""
        data = record.data
        return {
            "id": record.id,
            "persona": data.get("persona_id"),
            "turns": data.get("num_lines"),
            "created_at": data.get("created_at"),
            "query_id": data.get("base_dialogue_id"),
        }

    async def aclose(self) -> None:
        """Write the report's files (dialogues JSON, base hashes, embeddings) into the run."""
        if self._run_dir is not None:
            await offload.to_thread(export_run, self._run_dir, self.config, self.records_file)

    def dedup_text(self, record: Record) -> str | None:
        """The clean dialogue as `dedup.embed`, `first_k` and `max_chars` say, for dedup."""
        from asyncgen.dedup import record_text, settings_for

        return record_text(record.data, settings_for(self.config))
