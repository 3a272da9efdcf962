"""Settings for `asyncgen bench` and `asyncgen report`."""

from __future__ import annotations

from pydantic import Field

from asyncgen.config.base import Settings


class BenchSettings(Settings):
    """Step bounds and workload of an endpoint benchmark."""

    step_seconds: float = Field(default=20.0, gt=0)
    step_max_requests: int = Field(default=2000, gt=0)
    warmup_seconds: float = Field(default=2.0, ge=0)
    prompt_tokens: int = Field(default=64, gt=0)
    output_tokens: int = Field(default=32, gt=0)
    latency_target: float | None = Field(default=None, gt=0)
    max_concurrency: int = Field(default=512, gt=0)


class ReportSettings(Settings):
    """How much of a run the dataset report samples."""

    sample_size: int = Field(default=2000, gt=0)
    judge_model: str | None = None
    judge_sample: int = Field(default=50, gt=0)
