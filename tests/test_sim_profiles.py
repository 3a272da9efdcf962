"""Each provider profile over a real socket, read by the official openai SDK.

Headers are parsed in the provider's documented formats (Go durations, RFC 3339, epoch
milliseconds, per-second units); each refusal raises the SDK's matching exception class
and carries the provider's error shape and message.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest

MESSAGES: Any = [{"role": "user", "content": "Suggest a museum in Bath for a rainy day."}]
GO_DURATION = re.compile(r"^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$")


def _client(sim: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.base_url, api_key="sk-sim", max_retries=0)


def _ok(sim: Any, **extra: Any) -> httpx.Headers:
    with _client(sim) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=MESSAGES, **extra
        )
        raw.parse()
    return raw.headers


def _refused(
    sim: Any, error: type[openai.APIStatusError] = openai.RateLimitError, **extra: Any
) -> openai.APIStatusError:
    """Send until the server refuses; the SDK's exception."""
    with _client(sim) as client, pytest.raises(error) as info:
        for _ in range(100):
            client.chat.completions.create(model="m", messages=MESSAGES, **extra)
    return info.value


def _rfc3339(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_openai_headers_on_answers_and_4xx(sim_factory: Callable[..., Any]) -> None:
    """OpenAI: x-ratelimit-* with Go durations on 200, 400 and 429; both retry hints."""
    sim = sim_factory(rpm=60, tpm=100_000)
    headers = _ok(sim, max_tokens=50)
    assert headers["x-ratelimit-limit-requests"] == "60"
    assert GO_DURATION.match(headers["x-ratelimit-reset-tokens"])
    assert headers["x-request-id"].startswith("req_")
    bad = httpx.post(f"{sim.base_url}/chat/completions", content=b"{", timeout=5)
    assert bad.status_code == 400 and bad.headers["x-ratelimit-limit-requests"] == "60"
    assert bad.headers["x-request-id"]
    refused = _refused(sim)
    assert refused.code == "rate_limit_exceeded" and refused.type == "requests"
    assert "Please try again in" in refused.message
    assert refused.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert int(refused.response.headers["retry-after-ms"]) >= 1


def test_azure_minus_one_and_sparse_headers(sim_factory: Callable[..., Any]) -> None:
    """Azure: -1 for the unlimited dimension; every third answer only remaining-tokens."""
    sim = sim_factory(profile="azure", tpm=600_000)
    seen = [_ok(sim, max_tokens=20) for _ in range(6)]
    full = [h for h in seen if "x-ratelimit-limit-requests" in h]
    sparse = [h for h in seen if "x-ratelimit-limit-requests" not in h]
    assert len(sparse) == 2 and len(full) == 4
    assert all(h["x-ratelimit-limit-requests"] == "-1" for h in full)
    assert all(h["x-ratelimit-remaining-requests"] == "-1" for h in full)
    assert all(h["x-ratelimit-limit-tokens"] == "600000" for h in full)
    assert all(int(h["x-ratelimit-remaining-tokens"]) > 0 for h in sparse)
    assert all(h["apim-request-id"] for h in seen)


def test_azure_429_in_ten_second_windows(sim_factory: Callable[..., Any]) -> None:
    """Azure: 60 RPM is 10 per clock-aligned 10 s; a 429 body of {code: "429", message}."""
    sim = sim_factory(profile="azure", rpm=60)
    refused = _refused(sim)
    assert refused.body == {"code": "429", "message": refused.body["message"]}  # type: ignore[index]
    assert "Please retry after" in refused.body["message"]  # type: ignore[index]
    wait = int(refused.response.headers["retry-after"])
    assert 1 <= wait <= 10 and int(refused.response.headers["retry-after-ms"]) <= 10_000


def test_anthropic_headers_and_error_shape(sim_factory: Callable[..., Any]) -> None:
    """Anthropic: anthropic-ratelimit-* with RFC 3339 resets; input/output kept apart."""
    sim = sim_factory(profile="anthropic", rpm=50, input_tpm=30_000, output_tpm=8_000)
    before = time.time()
    headers = _ok(sim, max_tokens=1_000)
    assert headers["anthropic-ratelimit-requests-limit"] == "50"
    assert headers["anthropic-ratelimit-input-tokens-limit"] == "30000"
    assert headers["anthropic-ratelimit-output-tokens-limit"] == "8000"
    assert int(headers["anthropic-ratelimit-output-tokens-remaining"]) == 7_000
    # "tokens" is the most restrictive token limit in effect: output here.
    assert headers["anthropic-ratelimit-tokens-limit"] == "8000"
    reset = _rfc3339(headers["anthropic-ratelimit-output-tokens-reset"])
    assert before < reset <= before + 61
    assert headers["request-id"]
    refused = _refused(sim, max_tokens=4_000)
    assert refused.response.json()["type"] == "error"
    assert refused.body == {"type": "rate_limit_error", "message": refused.body["message"]}  # type: ignore[index]
    assert "output tokens per minute" in refused.message
    assert refused.response.headers["anthropic-ratelimit-output-tokens-remaining"] == "0"
    assert int(refused.response.headers["retry-after"]) >= 1
    assert "retry-after-ms" not in refused.response.headers


def test_openrouter_epoch_ms_reset_and_int_code(sim_factory: Callable[..., Any]) -> None:
    """OpenRouter: X-RateLimit-* with the reset in epoch ms; error code is the status int."""
    sim = sim_factory(profile="openrouter", rpm=20)
    now_ms = time.time() * 1000
    headers = _ok(sim)
    assert headers["X-RateLimit-Limit"] == "20"
    assert now_ms < int(headers["X-RateLimit-Reset"]) <= now_ms + 61_000
    refused = _refused(sim)
    assert refused.body["code"] == 429  # type: ignore[index]
    assert refused.response.headers["X-RateLimit-Remaining"] == "0"
    assert "retry-after" not in refused.response.headers


def test_groq_requests_per_day_and_tokens_per_minute(sim_factory: Callable[..., Any]) -> None:
    """Groq: limit-requests is the daily budget; its reset is a Go duration like 6s."""
    sim = sim_factory(profile="groq", rpd=14_400, tpm=6_000)
    headers = _ok(sim, max_tokens=100)
    assert headers["x-ratelimit-limit-requests"] == "14400"
    assert headers["x-ratelimit-reset-requests"] == "6s"  # 86,400 s / 14,400 per request
    assert headers["x-ratelimit-limit-tokens"] == "6000"
    refused = _refused(sim, max_tokens=100)
    assert "tokens per min (TPM)" in refused.message and refused.code == "rate_limit_exceeded"
    assert int(refused.response.headers["retry-after"]) >= 1


def test_together_per_second_headers(sim_factory: Callable[..., Any]) -> None:
    """Together: x-ratelimit-* (requests per second) plus x-tokenlimit-*."""
    sim = sim_factory(profile="together", rpm=600, tpm=60_000)
    headers = _ok(sim, max_tokens=50)
    assert headers["x-ratelimit-limit"] == "10"
    assert headers["x-tokenlimit-limit"] == "1000"
    assert 0 <= int(headers["x-ratelimit-remaining"]) <= 10
    assert float(headers["x-ratelimit-reset"]) >= 0


def test_vllm_has_no_limit_headers_and_503s_past_capacity(
    sim_factory: Callable[..., Any],
) -> None:
    """vLLM: no limit headers; past max_concurrency a 503 in vLLM's flat error shape."""
    sim = sim_factory(profile="vllm", max_concurrency=1, latency_median=0.5)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        responses = list(
            pool.map(
                lambda _: httpx.post(
                    f"{sim.base_url}/chat/completions",
                    json={"model": "m", "messages": MESSAGES},
                    timeout=10,
                ),
                range(3),
            )
        )
    assert sorted(r.status_code for r in responses) == [200, 503, 503]
    assert not any(k.startswith("x-ratelimit") for r in responses for k in r.headers)
    error = next(r for r in responses if r.status_code == 503).json()
    assert error["object"] == "error" and error["code"] == 503


def test_litellm_proxy_passes_upstream_headers_and_hides_its_own(
    sim_factory: Callable[..., Any],
) -> None:
    """LiteLLM: answers carry the upstream's limits (plain and llm_provider-); its own 429
    carries only llm_provider-retry-after."""
    sim = sim_factory(profile="litellm-proxy", rpm=60)
    headers = _ok(sim)
    assert headers["x-ratelimit-limit-requests"] == "600"  # the upstream's, not the proxy's
    assert headers["llm_provider-x-ratelimit-limit-requests"] == "600"
    refused = _refused(sim)
    assert refused.message.startswith("Error code: 429")
    assert refused.body["code"] == "429"  # type: ignore[index]
    assert refused.body["message"].startswith("litellm.RateLimitError:")  # type: ignore[index]
    sent = refused.response.headers
    assert int(sent["llm_provider-retry-after"]) >= 1
    assert "retry-after" not in sent and "x-ratelimit-limit-requests" not in sent


def test_unknown_profile_is_one_line_exit_2() -> None:
    """`asyncgen sim serve --profile nope` names the key and exits 2."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "asyncgen", "sim", "serve", "--profile", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "sim.profile" in result.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "asyncgen", "sim", "profiles"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    names = [line.split()[0] for line in listing.stdout.splitlines()]
    assert names == [
        "openai",
        "azure",
        "anthropic",
        "openrouter",
        "groq",
        "together",
        "vllm",
        "litellm-proxy",
    ]


PROFILE_429_WORDS = {
    "openai": "Rate limit reached for m in organization",
    "azure": "have exceeded call rate limit",
    "anthropic": "would exceed the rate limit",
    "openrouter": "Rate limit exceeded: 5 requests per min",
    "groq": "Rate limit reached for model `m`",
    "together": "Rate limit reached for m",
    "vllm": "Rate limit reached for m",
    "litellm-proxy": "litellm.RateLimitError: Crossed TPM / RPM",
}


@pytest.mark.parametrize("profile", list(PROFILE_429_WORDS))
def test_every_profile_raises_the_sdk_classes_with_its_message(
    sim_factory: Callable[..., Any], profile: str
) -> None:
    """401, 400, 429 and 529 raise the SDK's matching classes; messages in the provider's
    words, parsed out of the provider's error shape by the SDK."""
    sim = sim_factory(profile=profile, api_key="k", rpm=5)
    wrong = openai.OpenAI(base_url=sim.base_url, api_key="nope", max_retries=0)
    with wrong, pytest.raises(openai.AuthenticationError) as auth:
        wrong.chat.completions.create(model="m", messages=MESSAGES)
    assert "Incorrect API key provided" in auth.value.message
    client = openai.OpenAI(base_url=sim.base_url, api_key="k", max_retries=0)
    with client:
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="m", messages=MESSAGES, n=0)
        assert "Invalid 'n'" in bad.value.message
        with pytest.raises(openai.RateLimitError) as limited:
            for _ in range(20):
                client.chat.completions.create(model="m", messages=MESSAGES)
    assert PROFILE_429_WORDS[profile] in limited.value.message
    overloaded = sim_factory(profile=profile, overloaded_529=1.0)
    with _client(overloaded) as client, pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="m", messages=MESSAGES)
    assert info.value.status_code == 529 and "Overloaded" in info.value.message
