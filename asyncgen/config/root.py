"""The one run configuration that nests every concern."""

from typing import Self

from pydantic import Field, model_validator

from asyncgen.config.base import Settings
from asyncgen.config.bench import BenchSettings, ReportSettings
from asyncgen.config.dedup import DedupSettings
from asyncgen.config.dialogue import DialogueSettings
from asyncgen.config.engine import EngineSettings
from asyncgen.config.interaction import (
    DistractorSettings,
    InteractionGenerationSettings,
    PersonaSettings,
)
from asyncgen.config.llm import LLMSettings
from asyncgen.config.quality import QualitySettings
from asyncgen.config.sim import SimSettings
from asyncgen.config.training import TrainingDataSettings


class RunConfig(Settings):
    """Everything a run needs to know; snapshot into the run directory, secrets redacted."""

    llm: LLMSettings = Field(default_factory=LLMSettings)
    sim: SimSettings = Field(default_factory=SimSettings)
    engine: EngineSettings = Field(default_factory=EngineSettings)
    interaction_generation: InteractionGenerationSettings = Field(
        default_factory=InteractionGenerationSettings
    )
    personas: PersonaSettings = Field(default_factory=PersonaSettings)
    distractor: DistractorSettings = Field(default_factory=DistractorSettings)
    dialogue: DialogueSettings = Field(default_factory=DialogueSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    training_data: TrainingDataSettings = Field(default_factory=TrainingDataSettings)
    bench: BenchSettings = Field(default_factory=BenchSettings)
    report: ReportSettings = Field(default_factory=ReportSettings)

    @property
    def run_workers(self) -> int:
        """Items in flight: `engine.max_workers`, raised to `llm.batch.max_live` in batch
        mode (each live conversation waits on a round). Derived, never written back, so
        the snapshot keeps what was asked for and a resume online is not widened."""
        return self._raised(self.engine.max_workers)

    @property
    def stage_workers(self) -> int:
        """Calls in flight in the interaction stages (queries, style transfer), likewise."""
        return self._raised(self.interaction_generation.max_workers)

    def _raised(self, workers: int) -> int:
        return max(workers, self.llm.batch.max_live) if self.llm.mode == "batch" else workers

    @model_validator(mode="after")
    def _resolve_dialogue_threshold(self) -> Self:
        """A dialogue run's semantic dedup bar is `dialogue.similarity_threshold` (the
        report's parameter): resolved here, when the config is built, so the run never
        changes its config."""
        if self.engine.pipeline == "dialogue" and (
            self.dedup.threshold != self.dialogue.similarity_threshold
        ):
            self.dedup.threshold = self.dialogue.similarity_threshold
        return self
