"""Provider profiles: which algorithm, headers, errors and validation a simulated provider has.

`sim.profile` (``asyncgen sim serve --profile NAME``) picks one; `sim.limiter` and
`sim.retry_after` still override the profile's own. `asyncgen sim profiles` lists them.
docs/simulator.md cites the provider documentation each follows.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncgen.config.sim import PROFILE_LIMITERS, Algorithm, RetryAfterStyle

__all__ = ["PROFILES", "Profile"]


@dataclass(frozen=True)
class Profile:
    """One simulated provider."""

    name: str
    summary: str
    dialect: str  # asyncgen.sim.dialects name
    errors: str  # asyncgen.sim.error_shapes name
    retry_after: RetryAfterStyle
    strict: bool  # OpenAI's request validation (unknown fields, ranges)
    request_id_headers: tuple[bytes, ...] = (b"x-request-id",)
    upstream: bool = False  # a proxy: an upstream's headers pass through, prefixed too
    stream_errors: str = "openai"  # how a stream reports an error mid-way (sim.outcomes)
    host: str = "api.openai.com"  # named in Cloudflare error pages

    @property
    def limiter(self) -> Algorithm:
        """The profile's own rate-limit algorithm."""
        return PROFILE_LIMITERS[self.name]


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "openai",
            "token bucket (1 s share + 10 % burst), x-ratelimit-* with Go durations, strict",
            dialect="openai",
            errors="openai",
            retry_after="seconds_and_ms",
            strict=True,
        ),
        Profile(
            "azure",
            "fixed 10 s windows of RPM/6, -1 for unlimited, often only remaining-tokens",
            dialect="azure",
            errors="azure",
            retry_after="seconds_and_ms",
            strict=True,
            request_id_headers=(b"x-request-id", b"apim-request-id"),
            host="sim.openai.azure.com",
        ),
        Profile(
            "anthropic",
            "token bucket; anthropic-ratelimit-* with RFC 3339 resets, input/output tokens",
            dialect="anthropic",
            errors="anthropic",
            retry_after="seconds",
            strict=False,
            request_id_headers=(b"x-request-id", b"request-id"),
            stream_errors="anthropic",
            host="api.anthropic.com",
        ),
        Profile(
            "openrouter",
            "fixed minute windows; X-RateLimit-* with epoch-ms reset; errors with int code",
            dialect="openrouter",
            errors="openrouter",
            retry_after="none",
            strict=False,
            stream_errors="openrouter",
            host="openrouter.ai",
        ),
        Profile(
            "groq",
            "requests per day (rpd) + tokens per minute; x-ratelimit-* Go durations",
            dialect="groq",
            errors="openai",
            retry_after="seconds",
            strict=True,
            host="api.groq.com",
        ),
        Profile(
            "together",
            "token bucket; x-ratelimit-* per second plus x-tokenlimit-*",
            dialect="together",
            errors="openai",
            retry_after="seconds",
            strict=False,
            host="api.together.xyz",
        ),
        Profile(
            "vllm",
            "no limit headers; capacity only: queue or 503 past max_concurrency",
            dialect="none",
            errors="vllm",
            retry_after="none",
            strict=False,
            host="vllm.internal",
        ),
        Profile(
            "litellm-proxy",
            "own fixed-minute limits; upstream headers passed through; 429: "
            "llm_provider-retry-after only",
            dialect="openai",
            errors="litellm",
            retry_after="llm_provider",
            strict=False,
            upstream=True,
            host="litellm.internal",
        ),
    )
}
