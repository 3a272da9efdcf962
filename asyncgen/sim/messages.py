"""What a 429 says, in each provider's words (clients parse some of them: "try again in 20ms")."""

from __future__ import annotations

import math

from asyncgen.sim.ratelimit import Admission, format_duration

__all__ = ["rate_limit_message", "too_large_message"]

_DIMENSION_TEXT = {
    "requests": "requests per min (RPM)",
    "requests_minute": "requests per min (RPM)",
    "tokens": "tokens per min (TPM)",
    "input_tokens": "input tokens per minute",
    "output_tokens": "output tokens per minute",
}
_DAILY_TEXT = "requests per day (RPD)"
_CONCURRENT_TEXT = "concurrent requests"


def _dimension_text(dimension: str, algorithm: str) -> str:
    if dimension == "requests" and algorithm == "daily":
        return _DAILY_TEXT
    if dimension == "requests" and algorithm == "concurrency":
        return _CONCURRENT_TEXT
    return _DIMENSION_TEXT.get(dimension, dimension)


def rate_limit_message(
    profile: str, algorithm: str, admission: Admission, model: str, cost: int
) -> str:
    """The refusal's message as `profile`'s provider words it."""
    dimension = admission.dimension
    what = _dimension_text(dimension, algorithm)
    limit, used = admission.limit, admission.used
    requested = 1 if dimension.startswith("requests") else cost
    wait = admission.retry_after
    if profile == "azure":
        kind = "call" if dimension.startswith("requests") else "token"
        return (
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
            f"2024-10-21 have exceeded {kind} rate limit of your current OpenAI S0 pricing "
            f"tier. Please retry after {max(1, math.ceil(wait))} seconds. Please go here: "
            "https://aka.ms/oai/quotaincrease if you would like to further increase the "
            "default rate limit."
        )
    if profile == "anthropic":
        return (
            f"This request would exceed the rate limit for your organization of {limit} "
            f"{what}. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. "
            "You can see the response headers for current usage. Please reduce the prompt "
            "length or the maximum tokens requested, or try again later."
        )
    if profile == "openrouter":
        return f"Rate limit exceeded: {limit} {what}."
    if profile == "litellm-proxy":
        return (
            "Crossed TPM / RPM / Max Parallel Request Limit. "
            f"current {what}: {used}, limit: {limit}"
        )
    if profile == "groq":
        return (
            f"Rate limit reached for model `{model}` in organization `org_sim` service tier "
            f"`on_demand` on {what}: Limit {limit}, Used {used}, Requested {requested}. "
            f"Please try again in {format_duration(wait)}."
        )
    return (
        f"Rate limit reached for {model} in organization org-sim on {what}: Limit {limit}, "
        f"Used {used}, Requested {requested}. Please try again in {format_duration(wait)}. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    )


def too_large_message(model: str, admission: Admission, cost: int) -> str:
    """A request larger than a whole per-minute limit (OpenAI's wording; it never passes)."""
    what = _DIMENSION_TEXT.get(admission.dimension, admission.dimension)
    return (
        f"Request too large for {model} in organization org-sim on {what}: Limit "
        f"{admission.limit}, Requested {cost}. The input or output tokens must be reduced "
        "in order to run successfully."
    )
