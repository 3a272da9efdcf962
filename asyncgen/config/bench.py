"""Settings for `asyncgen bench` and `asyncgen report`."""

from typing import Literal

from pydantic import Field

from asyncgen.config.base import Settings


class BenchSettings(Settings):
    """Step bounds, workload and stopping rules of an endpoint benchmark."""

    step_seconds: float = Field(default=20.0, gt=0)
    step_max_requests: int = Field(default=2000, gt=0)
    warmup_seconds: float = Field(default=2.0, ge=0)
    drain_seconds: float = Field(default=30.0, ge=0)
    cooldown_seconds: float = Field(default=2.0, ge=0)
    prompt_tokens: int = Field(default=64, gt=0)
    output_tokens: int = Field(default=32, gt=0)
    prompts_file: str | None = None
    stream: bool = False
    latency_target: float | None = Field(default=None, gt=0)
    max_concurrency: int = Field(default=512, gt=0)
    error_threshold: float = Field(default=0.02, ge=0, lt=1)
    min_gain: float = Field(default=0.1, ge=0)
    refine: bool = True
    confirm_failures: bool = True
    rates: list[float] = Field(default_factory=lambda: [1.0])
    poisson: bool = False
    start_rate: float = Field(default=2.0, gt=0)
    ramp_factor: float = Field(default=2.0, gt=1)
    max_rate: float = Field(default=1000.0, gt=0)
    rate_precision: float = Field(default=0.05, gt=0)
    max_steps: int = Field(default=30, gt=0)
    max_duration: float | None = Field(default=None, gt=0)
    # find-limit: probe, ramp, saturation (see asyncgen.bench._limit)
    probe_seconds: float = Field(default=3.0, gt=0)
    ramp_seconds: float = Field(default=3.0, gt=0)
    overload: float = Field(default=0.2, gt=0, le=2)
    measure_seconds: float = Field(default=15.0, gt=0)
    measure_max_seconds: float = Field(default=100.0, gt=0)
    min_admitted: int = Field(default=200, gt=0)
    # slo: objectives and the variable searched
    slo: str | None = None
    slo_by: Literal["rate", "concurrency"] = "rate"
    # workload from a previous run's records.jsonl (replaces the fixed workload)
    run_dir: str | None = None
    headroom: float = Field(default=0.9, gt=0, le=1)
    seed: int = 0


class ReportSettings(Settings):
    """How much of a run the dataset report samples."""

    sample_size: int = Field(default=2000, gt=0)
    judge_model: str | None = None
    judge_sample: int = Field(default=50, gt=0)
    refresh_during_run: bool = True
    refresh_interval: float = Field(default=60.0, gt=0)
