"""Settings for the built-in OpenAI-compatible simulator."""

from typing import Literal, Self

from pydantic import Field, model_validator

from asyncgen.config.base import Settings
from asyncgen.config.batch import SimBatchSettings

Algorithm = Literal[
    "token_bucket", "rolling", "fixed_minute", "fixed_10s", "gcra", "concurrency", "daily"
]
RetryAfterStyle = Literal["seconds_and_ms", "seconds", "ms", "date", "none", "llm_provider"]
ProfileName = Literal[
    "openai", "azure", "anthropic", "openrouter", "groq", "together", "vllm", "litellm-proxy"
]
# Each profile's own algorithm (asyncgen.sim.profiles holds the rest of each profile).
PROFILE_LIMITERS: dict[str, Algorithm] = {
    "openai": "token_bucket",
    "azure": "fixed_10s",
    "anthropic": "token_bucket",
    "openrouter": "fixed_minute",
    "groq": "daily",
    "together": "token_bucket",
    "vllm": "token_bucket",
    "litellm-proxy": "fixed_minute",
}


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
    # What real providers also answer (docs/simulator.md says which provider does what).
    insufficient_quota: float = Field(default=0.0, ge=0, le=1)  # 429; the key stays spent
    overloaded_529: float = Field(default=0.0, ge=0, le=1)
    timeout_408: float = Field(default=0.0, ge=0, le=1)
    cloudflare_502: float = Field(default=0.0, ge=0, le=1)  # HTML pages, not JSON
    cloudflare_520: float = Field(default=0.0, ge=0, le=1)
    cloudflare_522: float = Field(default=0.0, ge=0, le=1)
    cloudflare_524: float = Field(default=0.0, ge=0, le=1)
    error_in_200: float = Field(default=0.0, ge=0, le=1)  # HTTP 200, {"error": ...} body
    content_filter: float = Field(default=0.0, ge=0, le=1)  # null content
    content_filter_partial: float = Field(default=0.0, ge=0, le=1)  # part of the answer
    refusal: float = Field(default=0.0, ge=0, le=1)
    tool_calls: float = Field(default=0.0, ge=0, le=1)  # tool_calls, null content
    empty_choices: float = Field(default=0.0, ge=0, le=1)  # "choices": []
    no_usage: float = Field(default=0.0, ge=0, le=1)
    stream_error: float = Field(default=0.0, ge=0, le=1)  # streams only: an error event
    stream_cut: float = Field(default=0.0, ge=0, le=1)  # streams only: ends before [DONE]


class SimSettings(Settings):
    """How the simulator listens, limits, waits, fails and answers."""

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    api_key: str | None = None
    profile: ProfileName = Field(
        default="openai", description="provider modelled: limiter, headers, errors, validation"
    )
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    input_tpm: int | None = Field(default=None, gt=0, description="input tokens per minute")
    output_tpm: int | None = Field(default=None, gt=0, description="output tokens per minute")
    upstream_rpm: int | None = Field(
        default=None, gt=0, description="litellm-proxy: the upstream's RPM (default 10x rpm)"
    )
    upstream_tpm: int | None = Field(
        default=None, gt=0, description="litellm-proxy: the upstream's TPM (default 10x tpm)"
    )
    limiter: Algorithm | None = Field(
        default=None, description="rate-limit algorithm; None = the profile's (token_bucket)"
    )
    rpd: int | None = Field(default=None, gt=0, description="requests per day (daily limiter)")
    concurrency_limit: int | None = Field(
        default=None, gt=0, description="requests in flight per key (concurrency limiter)"
    )
    sub_window: float = Field(
        default=1.0, gt=0, le=60, description="rolling/token_bucket sub-window, seconds"
    )
    burst_allowance: float = Field(default=0.1, ge=0, description="token_bucket extra share")
    gcra_burst: float = Field(default=1.0, gt=0, description="GCRA burst, seconds of the rate")
    refused_use_quota: bool = Field(
        default=False, description="refused requests are charged as if admitted"
    )
    retry_after: RetryAfterStyle | None = Field(
        default=None, description="how a 429 says when to retry; None = the profile's"
    )
    latency_median: float = Field(default=0.0, ge=0)
    latency_sigma: float = Field(default=0.0, ge=0)
    seconds_per_output_token: float = Field(default=0.0, ge=0)
    max_concurrency: int | None = Field(default=None, gt=0)
    overload: Literal["queue", "reject"] = "reject"
    faults: FaultRates = Field(default_factory=FaultRates)
    duplicate_rate: float = Field(default=0.0, ge=0, le=1)
    malformed_rate: float = Field(default=0.0, ge=0, le=1)
    persona_contradiction_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="share of user follow-ups that contradict the persona (judge tests)",
    )
    seed: int = 0
    models: list[str] = Field(default_factory=lambda: ["sim-model"])
    strict: bool | None = Field(
        default=None, description="OpenAI's request validation; None = the profile's"
    )
    reasoning_models: list[str] = Field(
        default_factory=lambda: ["o1*", "o3*", "o4*", "gpt-5*"],
        description="model names (fnmatch) that refuse max_tokens and temperature != 1",
    )
    context_window: int = Field(default=128_000, gt=0, description="tokens per request")
    batch: SimBatchSettings = Field(default_factory=SimBatchSettings)

    @model_validator(mode="after")
    def _limits_fit_the_limiter(self) -> Self:
        problem = limiter_problem(
            self.algorithm, self.rpm, self.tpm, self.rpd, self.concurrency_limit
        )
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def algorithm(self) -> Algorithm:
        """The rate-limit algorithm in force: `limiter`, else the profile's."""
        return self.limiter or PROFILE_LIMITERS[self.profile]


def limiter_problem(
    algorithm: str, rpm: int | None, tpm: int | None, rpd: int | None, concurrency: int | None
) -> str | None:
    """Why these limits do not fit `algorithm` (a limit it ignores, or one it needs), or None."""
    if rpd is not None and algorithm != "daily":
        return "sim.rpd: requests per day are enforced only by the daily limiter"
    if concurrency is not None and algorithm != "concurrency":
        return "sim.concurrency_limit: used only by the concurrency limiter"
    if algorithm == "concurrency" and (rpm is not None or tpm is not None):
        return "sim.rpm/sim.tpm: the concurrency limiter limits requests in flight"
    return None
