"""The transport against each simulator provider profile and algorithm, over real sockets.

One default configuration for all (no limit given: whatever the profile's headers say is
learned, and 429s teach the rest): every request is answered, the 429s stay few, and the
limit held is the one of the server asyncgen talks to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from test_llm_sim import drive, transport, warm

from asyncgen.llm import set_testing

RPM = 1200  # 20/s: a few seconds per case
N = 60


@pytest.fixture(autouse=True)
def _real_backoff() -> Iterator[None]:
    set_testing(False)  # 429 advice is followed for real: that is what is measured
    yield


PROFILES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # (profile, simulator settings, what the transport must have learned)
    ("openai", {"rpm": RPM}, {"rpm_limit": RPM}),
    ("azure", {"rpm": RPM}, {"rpm_limit": RPM}),
    ("anthropic", {"rpm": RPM, "input_tpm": 400_000, "output_tpm": 80_000}, {"rpm_limit": RPM}),
    ("openrouter", {"rpm": RPM}, {"rpm_limit": RPM}),
    ("groq", {"rpd": 14_400, "tpm": 600_000}, {"rpm_limit": None, "tpm_limit": 600_000}),
    ("together", {"rpm": RPM}, {"rpm_limit": RPM}),
    ("vllm", {"max_concurrency": 8, "overload": "reject"}, {"rpm_limit": None}),
    ("litellm-proxy", {"rpm": RPM}, {"rpm_limit": None}),  # upstream's 12,000 not learned
]


@pytest.mark.parametrize(("profile", "sim", "learned"), PROFILES, ids=[p[0] for p in PROFILES])
async def test_each_profile_answers_everything_at_its_limit(
    sim_factory: Callable[..., Any], profile: str, sim: dict[str, Any], learned: dict[str, Any]
) -> None:
    server = warm(
        sim_factory(profile=profile, latency_median=0.05, latency_sigma=0.3, seed=3, **sim)
    )
    async with transport(server) as client:
        ok, failed, wall = await drive(client, N, workers=16, max_tokens=16)
        snap = client.stats.snapshot()
    assert ok == N and not failed, (failed[:1], snap)
    stats = server.stats()
    assert stats["rate_limited"] <= 0.1 * N, (stats, snap)
    for key, value in learned.items():
        assert snap[key] == value, snap
    # Never faster than the limit allows (plus its first second); a fixed window (Azure's
    # 10 s, OpenRouter's minute) admits its whole remaining at once, and the 429s bound it.
    if learned.get("rpm_limit") and profile not in ("azure", "openrouter"):
        assert N / wall <= RPM / 60 * 1.5 + 5


ALGORITHMS = ["token_bucket", "rolling", "fixed_minute", "fixed_10s", "gcra"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_each_algorithm_without_headers_learned(
    sim_factory: Callable[..., Any], algorithm: str
) -> None:
    """No limit known and none learned (headers ignored): 429s teach the rate; no failures."""
    server = warm(
        sim_factory(limiter=algorithm, rpm=3000, latency_median=0.05, retry_after="seconds")
    )
    async with transport(server, learn_from_headers=False) as client:
        ok, failed, _ = await drive(client, 2 * N, workers=16, max_tokens=16)
        snap = client.stats.snapshot()
    assert ok == 2 * N and not failed, (failed[:1], snap)
    assert server.stats()["rate_limited"] <= 0.25 * 2 * N, snap


async def test_a_concurrency_limit_without_headers_is_held_as_slots_not_a_rate(
    sim_factory: Callable[..., Any],
) -> None:
    """A server that admits 6 in flight and says nothing else: the first 429s (16 sent at
    once) set the window to 6, no rate is learned, and the 429s stop there."""
    server = warm(
        sim_factory(profile="vllm", limiter="concurrency", concurrency_limit=6, latency_median=0.1)
    )
    async with transport(server, concurrency=16) as client:
        ok, failed, _ = await drive(client, 120, workers=16, max_tokens=16)
        snap = client.stats.snapshot()
    assert ok == 120 and not failed, (failed[:1], snap)
    limiter = next(iter(snap["limiters"].values()))
    assert limiter["window"] == 6 and limiter["learned_rpm"] is None, limiter
    assert server.stats()["rate_limited"] <= 16, snap
