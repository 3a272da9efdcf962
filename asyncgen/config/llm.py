"""Settings for the transport: endpoints, limits, retries, model pool, prices, budgets."""

from typing import Literal, Self

from pydantic import Field, model_validator

from asyncgen.config.base import Settings, require_values
from asyncgen.config.batch import BatchSettings

ProviderName = Literal["openai", "openrouter", "compatible", "simulator"]

PROVIDER_DEFAULTS: dict[str, tuple[str, str]] = {
    # provider: (base_url, environment variable holding its key)
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "compatible": ("http://127.0.0.1:8000/v1", "OPENAI_API_KEY"),
    "simulator": ("", "ASYNCGEN_SIM_API_KEY"),
}


class PoolEntry(Settings):
    """One model in a weighted pool; a conversation is locked to one entry."""

    provider: ProviderName = "openai"
    model: str = "gpt-4o-mini"
    weight: float = Field(default=1.0, gt=0)
    base_url: str | None = None
    api_key_env: str | None = None


class SamplingLists(Settings):
    """Value lists drawn once per conversation (the dialogue report's CLI lists)."""

    temperature: list[float] = Field(default_factory=lambda: [0.7, 0.8, 0.9, 1.0])
    top_p: list[float] = Field(default_factory=lambda: [0.8, 0.85, 0.9, 0.95, 1.0])
    frequency_penalty: list[float] = Field(default_factory=lambda: [0.0, 0.2, 0.4, 0.6, 0.7])
    presence_penalty: list[float] = Field(default_factory=lambda: [0.0, 0.2, 0.4, 0.6, 0.7])

    @model_validator(mode="after")
    def _non_empty(self) -> Self:
        require_values(self, "temperature", "top_p", "frequency_penalty", "presence_penalty")
        return self


class Price(Settings):
    """USD per million tokens."""

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)
    batch_input: float | None = Field(default=None, ge=0)  # None: llm.batch.price_share x input
    batch_output: float | None = Field(default=None, ge=0)


def _default_prices() -> dict[str, Price]:
    return {
        "gpt-4o-mini": Price(input=0.15, output=0.60),
        "gpt-4o": Price(input=2.50, output=10.00),
        "gpt-4.1-mini": Price(input=0.40, output=1.60),
        "anthropic/claude-3.5-haiku": Price(input=0.80, output=4.00),
        "google/gemini-2.0-flash-exp": Price(input=0.10, output=0.40),
        "sim-model": Price(input=0.0, output=0.0),
    }


class TimeoutSettings(Settings):
    """Seconds; `read` bounds the wait for the whole answer."""

    connect: float = Field(default=10.0, gt=0)
    read: float = Field(default=120.0, gt=0)
    write: float = Field(default=30.0, gt=0)
    pool: float = Field(default=60.0, gt=0)


class RetrySettings(Settings):
    """Classified retries with jittered exponential backoff.

    `max_retries` bounds retries of failures (5xx, drops, bad bodies); 429s are bounded by
    time instead: a request keeps retrying them for `rate_limit_patience` seconds, waiting
    what the endpoint advises or, without advice, from `rate_limit_backoff` doubling.
    """

    max_retries: int = Field(default=6, ge=0)
    backoff_initial: float = Field(default=0.25, ge=0)
    backoff_max: float = Field(default=30.0, ge=0)
    backoff_jitter: float = Field(default=0.5, ge=0, le=1)
    retry_on_length: bool = True
    escalate_above: float = Field(default=0.2, ge=0, le=1)
    rate_limit_patience: float = Field(default=600.0, ge=0)
    rate_limit_backoff: float = Field(default=0.5, ge=0)


class LimitSettings(Settings):
    """Rate limits; None means learn them from x-ratelimit-* headers."""

    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    concurrency: int = Field(default=64, gt=0)
    adaptive: bool = True
    learn_from_headers: bool = True
    pause_on_429: bool = True
    resume_ramp_seconds: float = Field(default=1.0, ge=0)
    burst_seconds: float = Field(default=0.1, gt=0)
    initial_concurrency: int = Field(default=16, gt=0)  # in flight before the first answer
    completion_estimate: int = Field(default=512, gt=0)


class LLMSettings(Settings):
    """Where model calls go and how fast."""

    provider: ProviderName = "openai"
    base_url: str | None = None
    api_key_env: str | None = None
    model: str = "gpt-4o-mini"
    http_backend: Literal["native", "aiohttp", "httpx"] = "native"
    timeouts: TimeoutSettings = Field(default_factory=TimeoutSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    prices: dict[str, Price] = Field(default_factory=_default_prices)
    max_cost: float | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    sampling: SamplingLists = Field(default_factory=SamplingLists)
    mode: Literal["online", "batch"] = "online"
    batch: BatchSettings = Field(default_factory=BatchSettings)
