"""Settings for exact and semantic uniqueness."""

from typing import Literal, Self

from pydantic import Field

from asyncgen.config.base import Settings


class DedupOverrides(Settings):
    """Per-pipeline changes to the dedup settings (unset keys keep the run's value)."""

    enabled: bool | None = None
    threshold: float | None = Field(default=None, gt=0, le=1)
    raw_threshold: float | None = Field(default=None, gt=0, le=1)
    embed: Literal["dialogue", "user_turns", "first_k_turns"] | None = None
    first_k: int | None = Field(default=None, gt=0)
    max_chars: int | None = Field(default=None, gt=0)


class DedupSettings(Settings):
    """What is embedded, with which model, and when two records count as the same."""

    enabled: bool = True
    threshold: float = Field(default=0.9, gt=0, le=1)
    raw_threshold: float | None = Field(default=None, gt=0, le=1)
    embed: Literal["dialogue", "user_turns", "first_k_turns"] = "dialogue"
    first_k: int = Field(default=4, gt=0)
    embedder: Literal["minilm", "static", "hashing"] = "static"
    model: str | None = None
    static_model_dir: str | None = None
    batch_size: int = Field(default=64, gt=0)
    batch_deadline: float = Field(default=0.01, ge=0)
    max_chars: int = Field(default=2000, gt=0)
    torch_threads: int | None = Field(default=None, gt=0)
    worker_process: bool = True
    approximate_after: int = Field(default=100_000, gt=0)
    hnsw_m: int = Field(default=16, gt=0)
    save_interval: float = Field(default=30.0, gt=0)
    pipelines: dict[str, DedupOverrides] = Field(default_factory=dict)

    def for_pipeline(self, name: str) -> Self:
        """These settings with `pipelines[name]`'s keys applied (the run's effective dedup)."""
        overrides = self.pipelines.get(name)
        if overrides is None:
            return self
        return self.model_copy(update=overrides.model_dump(exclude_none=True))
