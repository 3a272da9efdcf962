"""Settings for the built-in OpenAI-compatible simulator."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from asyncgen.config.base import Settings
from asyncgen.config.batch import SimBatchSettings


class FaultRates(Settings):
    """Each a probability per request."""

    error_500: float = Field(default=0.0, ge=0, le=1)
    error_503: float = Field(default=0.0, ge=0, le=1)
    drop_connection: float = Field(default=0.0, ge=0, le=1)
    malformed_json: float = Field(default=0.0, ge=0, le=1)
    empty_content: float = Field(default=0.0, ge=0, le=1)
    truncate_length: float = Field(default=0.0, ge=0, le=1)
    slow_first_byte: float = Field(default=0.0, ge=0, le=1)
    slow_first_byte_seconds: float = Field(default=30.0, ge=0)


class SimSettings(Settings):
    """How the simulator listens, limits, waits, fails and answers."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    api_key: str | None = None
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    latency_median: float = Field(default=0.0, ge=0)
    latency_sigma: float = Field(default=0.0, ge=0)
    seconds_per_output_token: float = Field(default=0.0, ge=0)
    max_concurrency: int | None = Field(default=None, gt=0)
    overload: Literal["queue", "reject"] = "reject"
    faults: FaultRates = Field(default_factory=FaultRates)
    duplicate_rate: float = Field(default=0.0, ge=0, le=1)
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    seed: int = 0
    models: list[str] = Field(default_factory=lambda: ["sim-model"])
    batch: SimBatchSettings = Field(default_factory=SimBatchSettings)
