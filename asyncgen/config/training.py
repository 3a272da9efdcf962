"""Settings for training-data export (spec: training_data.*)."""

from typing import Literal, Self

from pydantic import Field, model_validator

from asyncgen.config.base import Settings

ExportFormat = Literal["json", "jsonl", "openai", "sharegpt", "parquet", "hf", "dst"]


class SplitSettings(Settings):
    """Group-wise train/validation/test ratios."""

    train: float = Field(default=0.8, ge=0, le=1)
    validation: float = Field(default=0.1, ge=0, le=1)
    test: float = Field(default=0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> Self:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"split ratios must sum to 1, got {total:g}")
        return self


class TrainingDataSettings(Settings):
    """Where samples go, how they split, which formats, which user turns."""

    output_dir: str = "output/training_data"
    format: list[ExportFormat] = Field(default_factory=lambda: list[ExportFormat](["json"]))
    split: SplitSettings = Field(default_factory=SplitSettings)
    split_seed: int = 0
    include_noisy_versions: bool = True
    user_turns: Literal["clean", "noisy", "both"] = "clean"
    system_prompt: str | None = None
    drop_failed: bool = True
    strict: bool = False
    batch_size: int = Field(default=1000, gt=0)
