"""Rate-limit windows with an injected clock: per minute, pro rata per second, headers."""

from __future__ import annotations

import pytest

from asyncgen.sim.ratelimit import RateLimiter, format_duration


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.02, "20ms"), (1, "1s"), (1.5, "1.5s"), (360, "6m0s"), (61.25, "1m1.25s")],
)
def test_durations_use_openai_format(seconds: float, text: str) -> None:
    """Reset headers read like OpenAI's: 20ms, 1s, 6m0s."""
    assert format_duration(seconds) == text


def test_burst_of_a_minutes_allowance_is_refused_after_one_seconds_share() -> None:
    """60,000 RPM admits about 1,000 (+10 %) at once, then refuses for the rest of the second."""
    clock = Clock()
    limiter = RateLimiter(60_000, None, clock=clock)
    admitted = sum(limiter.admit("k", 0).admitted for _ in range(5_000))
    assert admitted == 1_100
    refused = limiter.admit("k", 0)
    assert not refused.admitted and 0 < refused.retry_after <= 1.0
    clock.now += 1.0
    assert limiter.admit("k", 0).admitted


def test_rolling_minute_caps_a_steady_overload() -> None:
    """Sending 10 % over the share: after the first burst only rpm/60 a second pass."""
    clock = Clock()
    limiter = RateLimiter(600, None, clock=clock)  # 10/s, bursts of 11
    per_second = []
    for _ in range(120):
        per_second.append(sum(limiter.admit("k", 0).admitted for _ in range(11)))
        clock.now += 1.0
    assert per_second[0] == 11
    assert set(per_second[1:]) == {10}
    assert sum(per_second[-60:]) <= 600


def test_refused_requests_consume_nothing() -> None:
    """Hammering while refused does not push the next admission further out."""
    clock = Clock()
    limiter = RateLimiter(60, None, clock=clock)
    assert limiter.admit("k", 0).admitted
    assert limiter.admit("k", 0).admitted  # 10 % burst allowance rounds up to 2
    for _ in range(100):
        assert not limiter.admit("k", 0).admitted
    clock.now += 1.0
    assert limiter.admit("k", 0).admitted


def test_keys_are_limited_separately() -> None:
    """One key's usage leaves another key's allowance whole."""
    clock = Clock()
    limiter = RateLimiter(60, None, clock=clock)
    for _ in range(3):
        limiter.admit("a", 0)
    assert limiter.admit("b", 0).admitted


def test_headers_report_limit_remaining_and_reset() -> None:
    """Headers follow OpenAI's example: limit 60, remaining 59, reset 1s after one request."""
    limiter = RateLimiter(60, 150_000, clock=Clock())
    headers = dict(limiter.admit("k", 16).headers)
    assert headers[b"x-ratelimit-limit-requests"] == b"60"
    assert headers[b"x-ratelimit-remaining-requests"] == b"59"
    assert headers[b"x-ratelimit-reset-requests"] == b"1s"
    assert headers[b"x-ratelimit-limit-tokens"] == b"150000"
    assert headers[b"x-ratelimit-remaining-tokens"] == b"149984"
    assert headers[b"x-ratelimit-reset-tokens"] == b"6ms"


def test_tokens_per_minute_refuses_and_says_when() -> None:
    """TPM refuses a request that would overdraw the second's share, with a wait."""
    clock = Clock()
    limiter = RateLimiter(None, 6_000, clock=clock)  # 100 tokens/s, cap 110
    assert limiter.admit("k", 100).admitted
    refused = limiter.admit("k", 50)
    assert not refused.admitted and refused.dimension == "tokens"
    clock.now += refused.retry_after
    assert limiter.admit("k", 50).admitted


def test_request_larger_than_the_minute_is_too_large() -> None:
    """A request costing more than the whole TPM can never pass."""
    limiter = RateLimiter(None, 1_000, clock=Clock())
    verdict = limiter.admit("k", 5_000)
    assert not verdict.admitted and verdict.too_large


def test_large_request_passes_an_empty_second_window() -> None:
    """A request above one second's share is admitted when the window is empty."""
    limiter = RateLimiter(None, 6_000, clock=Clock())
    assert limiter.admit("k", 500).admitted


def test_paced_client_survives_a_stall() -> None:
    """Requests paced at the limit but bunched by a 0.5 s stall are all still admitted."""
    clock = Clock()
    limiter = RateLimiter(1_200, None, clock=clock)  # 20/s
    for _ in range(40):  # two seconds at exactly 20/s
        assert limiter.admit("k", 0).admitted
        clock.now += 0.05
    clock.now += 0.5  # the server stalls; ten requests pile up meanwhile
    assert all(limiter.admit("k", 0).admitted for _ in range(10))
