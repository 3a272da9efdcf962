"""Settings for the run engine: workers, files, cadence, shutdown, logging."""

from typing import Literal

from pydantic import Field, field_validator

from asyncgen.config.base import Settings

BUILTIN_PIPELINES = ("interaction", "dialogue", "complete")


class RaySettings(Settings):
    """Running one run's items on a Ray cluster (`--ray`, `asyncgen.cluster`)."""

    address: str | None = None
    workers: int = Field(default=2, gt=0)
    worker_cpus: float = Field(default=1.0, ge=0)
    shard_size: int = Field(default=16, gt=0)
    lease_batch: int = Field(default=16, gt=0)
    stats_interval: float = Field(default=1.0, gt=0)
    start_timeout: float = Field(default=180.0, gt=0)


class EngineSettings(Settings):
    """How a run is scheduled, written, drained and reported."""

    pipeline: str = "interaction"
    n: int = Field(default=1000, gt=0)
    seed: int = 0
    out: str | None = None
    max_workers: int = Field(default=64, gt=0)
    queue_size: int = Field(default=256, gt=0)
    fsync_interval: float = Field(default=1.0, ge=0)
    grace_period: float = Field(default=10.0, ge=0)
    metrics_interval: float = Field(default=5.0, gt=0)
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    progress_interval: float = Field(default=30.0, gt=0)
    lag_interval: float = Field(default=0.05, gt=0)
    max_supplement_rounds: int = Field(default=3, ge=0)
    supplement_patience: int = Field(default=20, ge=0)
    stop_failure_share: float | None = Field(default=0.9, gt=0, le=1)
    stop_failure_window: int = Field(default=200, ge=10)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_file: str = "asyncgen.log"
    ray: RaySettings = Field(default_factory=RaySettings)

    @field_validator("pipeline")
    @classmethod
    def _known_pipeline(cls, value: str) -> str:
        if value in BUILTIN_PIPELINES or ":" in value:
            return value
        choices = " | ".join(BUILTIN_PIPELINES)
        raise ValueError(f"unknown pipeline {value!r}: {choices} (or package.module:Class)")
