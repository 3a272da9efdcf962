"""The find-limit estimator, SLOs, header comparison and run-dir workload, without a network.

The estimator is fed the admissions of the simulator's own limiter classes at evenly
spaced arrivals, so each algorithm's definition (not a mock of it) decides every request.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.bench._advert import compare_limits, disagreements
from asyncgen.bench._rundir import load_run_workload
from asyncgen.bench._sample import Sample, limit_dimension_of
from asyncgen.bench._saturation import concurrency_cap, saturated_rate, window_count_rate
from asyncgen.bench._slo import _History, _next_value, goodput, parse_slos, rising
from asyncgen.errors import ConfigError, DatasetError, RateLimitError
from asyncgen.sim.algorithms import FixedWindow, Gcra, RollingWindow, TokenBucket


def _drive(window: Any, rate: float, seconds: float, start: float = 0.0) -> list[Sample]:
    """Evenly spaced arrivals at `rate` through one limiter window: one sample each."""
    samples = []
    n = int(rate * seconds)
    for k in range(n):
        t = start + k / rate
        if window.wait_for(1, t) == 0:
            window.commit(1, t)
            samples.append(Sample(t, 0.05))
        else:
            samples.append(Sample(t, 0.001, "429"))
    return samples


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("token_bucket", lambda: TokenBucket(600, 0.0)),
        ("gcra", lambda: Gcra(600, 0.0, burst=10)),
        ("fixed_10s", lambda: FixedWindow(100, period=10.0, epoch_offset=3.0)),
        ("rolling_10s", lambda: RollingWindow(600, sub_window=10.0)),
    ],
)
def test_saturated_rate_is_the_limit(name: str, make: Any) -> None:
    """At 1.2× a 600/min limit, the phase-point count gives 10/s; the burst is left out."""
    samples = _drive(make(), 12.0, 45.0)
    found = saturated_rate(samples, offered=12.0)
    assert found.rate == pytest.approx(10.0, rel=0.02), found
    assert sum(s.was_admitted for s in samples) / 45.0 > 10.0  # the naive count is higher


def test_send_time_jitter_does_not_set_the_rate() -> None:
    """A busy client records send times up to 20 ms after the server saw them (a rolling
    1 s window, 6 s at 1.2x): every estimate stays within 2.5 % of the limit; the two end
    points alone missed by up to 4.8 %, the CI flake of the find-limit test."""
    truth = _drive(RollingWindow(3000, sub_window=1.0), 60.0, 6.0)
    for seed in range(30):
        rng = random.Random(seed)
        recorded = [Sample(s.start + rng.uniform(0.0, 0.02), s.latency, s.kind) for s in truth]
        found = saturated_rate(recorded, offered=60.0)
        assert found.rate == pytest.approx(50.0, rel=0.025), (seed, found)


def _drive_stalled(
    window: Any, rate: float, seconds: float, stall: float, every: float
) -> list[Sample]:
    """Evenly scheduled arrivals from a client that freezes `stall` s every `every` s and
    then sends what it missed at once (as a GC pause or a busy machine does)."""
    samples = []
    for k in range(int(rate * seconds)):
        due = k / rate
        since = due % (every + stall)
        t = due - since + every + stall if since >= every else due  # held until it thaws
        if window.wait_for(1, t) == 0:
            window.commit(1, t)
            samples.append(Sample(t, 0.05))
        else:
            samples.append(Sample(t, 0.001, "429"))
    return samples


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("rolling_1s", lambda: RollingWindow(3000, sub_window=1.0)),
        ("token_bucket", lambda: TokenBucket(3000, 0.0)),
        ("gcra", lambda: Gcra(3000, 0.0, burst=50)),
    ],
)
def test_a_stalled_client_reads_full_windows(name: str, make: Any) -> None:
    """Stalls of 0.25 s every 1.5 s at 1.2x a 50/s limit: a 1 s log's phase-point rate
    falls ~8 % (freed slots go unused, the caught-up bunch echoes), a full 1 s window's
    count before each 429 stays at the limit on every algorithm."""
    samples = _drive_stalled(make(), 60.0, 8.0, stall=0.25, every=1.5)
    found = saturated_rate(samples, offered=60.0)
    assert window_count_rate(samples, 1.0) == pytest.approx(50.0, abs=1.0)
    if name == "rolling_1s":
        assert found.rate is not None and found.rate < 0.95 * 50.0, found


def test_burst_before_the_first_429_is_reported_not_counted() -> None:
    """A full minute bucket without a sub-window: hundreds admitted early, rate still 10/s."""
    samples = _drive(TokenBucket(600, 0.0, sub_window=None), 30.0, 40.0)
    found = saturated_rate(samples, offered=30.0)
    assert found.rate == pytest.approx(10.0, rel=0.01)
    assert found.burst > 500


def test_no_phase_points_no_estimate() -> None:
    """Nothing refused: no estimate (the limit is above the offered rate)."""
    found = saturated_rate([Sample(k / 5, 0.1) for k in range(50)])
    assert found.rate is None and found.phase_points == 0


def test_concurrency_cap_from_in_flight_counts() -> None:
    """Refused exactly when 3 are open: the cap is 3; a rate limit shows no such pattern."""
    samples = []
    for k in range(60):
        t = k * 0.1
        open_now = sum(1 for s in samples if s.was_admitted and s.start < t < s.start + s.latency)
        samples.append(Sample(t, 0.35) if open_now < 3 else Sample(t, 0.001, "429"))
    assert concurrency_cap(samples) == 3
    rng = random.Random(5)
    rate_limited = _drive(TokenBucket(600, 0.0), 12.0, 20.0)
    noisy = [Sample(s.start, 0.4 * rng.lognormvariate(0, 0.5), s.kind) for s in rate_limited]
    assert concurrency_cap(noisy) is None


def test_429_messages_name_their_dimension() -> None:
    """The word in a 429's message names the binding dimension."""
    tpm = RateLimitError("rate limited (429): Rate limit reached on tokens per min.")
    rpd = RateLimitError("Rate limit reached for requests per day (RPD)")
    anthropic = RateLimitError(
        "would exceed the rate limit for your organization of 600 requests per minute. "
        "Please reduce the prompt length or the maximum tokens requested"
    )
    azure = RateLimitError("have exceeded call rate limit of your current OpenAI S0 tier")
    assert limit_dimension_of(tpm) == "tokens"
    assert limit_dimension_of(rpd) == "requests_per_day"
    assert limit_dimension_of(anthropic) == "requests"  # the first phrase, not "tokens"
    assert limit_dimension_of(azure) == "requests"
    assert limit_dimension_of(ValueError("x")) is None


def test_headers_against_observed() -> None:
    """Agreement within 3 %; a six-fold gap named as a per-window figure; -1 is not a limit."""
    summary = {"binding_dimension": "requests", "sustainable_rpm": 594.0}
    rows = compare_limits(summary, {"limit_requests": 600, "limit_tokens": -1})
    assert rows[0]["agrees"] is True
    assert "not limited" in rows[1]["note"]
    rows = compare_limits({**summary, "sustainable_rpm": 3600.0}, {"limit_requests": 600})
    assert rows[0]["agrees"] is False and "10 s window" in rows[0]["note"]
    rows = compare_limits({**summary, "sustainable_rpm": 450.0}, {"limit_requests": 600})
    assert "25% less" in disagreements(rows)[0]


def test_parse_slos_and_errors() -> None:
    """Objectives in s or ms, percentiles or mean; a typo is a ConfigError naming it."""
    slos = parse_slos("ttft_p99<=2s, e2e_p95<800ms,itl_mean<=50ms")
    assert [s.text() for s in slos] == ["ttft_p99<=2s", "e2e_p95<0.8s", "itl_mean<=0.05s"]
    with pytest.raises(ConfigError, match="ttft_q99"):
        parse_slos("ttft_q99<=2s")
    with pytest.raises(ConfigError):
        parse_slos(" , ")


def test_goodput_counts_requests_meeting_every_slo() -> None:
    """Goodput: successful requests under every threshold, per second."""
    slos = parse_slos("ttft_p99<=0.5s,e2e_p95<=1s")
    samples = [
        Sample(0, 0.8, ttft=0.2),  # good
        Sample(0, 1.2, ttft=0.2),  # e2e too slow
        Sample(0, 0.9, ttft=0.7),  # ttft too slow
        Sample(0, 0.01, "429"),
    ]
    assert goodput(samples, slos, window=2.0) == 0.5


def test_interpolated_bisection_aims_at_the_zero_crossing() -> None:
    """Margins -0.5 at 10 and +0.5 at 30: the next point is 20; kept off the bracket ends."""
    assert _next_value(_History({10.0: -0.5, 30.0: 0.5}), integer=False) == pytest.approx(20.0)
    assert _next_value(_History({10.0: -0.01, 30.0: 5.0}), integer=False) == pytest.approx(12.0)
    assert _next_value(_History({4.0: -0.2, 8.0: math.inf}), integer=True) in (5.0, 6.0, 7.0)


def test_over_saturation_needs_a_significant_material_rise() -> None:
    """A steady series is not rising; a queue that grows is; noise alone is not."""
    steady = [(t / 10, 5.0 + (0.3 if t % 2 else -0.3)) for t in range(40)]
    growing = [(t / 10, 5.0 + t * 0.2) for t in range(40)]
    assert not rising(steady)
    assert rising(growing)


def _records(path: Path, rows: list[dict[str, Any]]) -> None:
    path.mkdir()
    (path / "records.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def test_run_dir_workload_replays_conversations(tmp_path: Path) -> None:
    """Interaction records become one call per assistant turn, with the real lengths."""
    run = tmp_path / "run"
    long_answer = "word " * 120
    _records(
        run,
        [
            {
                "messages": [
                    {"role": "user", "content": "Plan a trip to Rome."},
                    {"role": "assistant", "content": long_answer},
                    {"role": "user", "content": "Cheaper, please."},
                    {"role": "assistant", "content": "Take the train."},
                ]
            },
            {"turns": [{"user_utterance": "Hi", "assistant_response": "Hello " * 30}]},
        ],
    )
    workload = load_run_workload(run, seed=1)
    info = workload.describe()
    assert info["conversations"] == 2
    assert info["calls_per_conversation"] == pytest.approx(1.5)
    calls = [workload.next_request() for _ in range(30)]
    assert {len(c.messages) for c in calls} >= {1, 3}
    assert max(c.max_tokens or 0 for c in calls) >= 100  # the long answer's length
    (run / "ledger.jsonl").write_bytes(
        b"".join(orjson.dumps({"final": True, "in": 10, "out": 5}) + b"\n" for _ in range(9))
    )
    assert load_run_workload(run, seed=1).calls_per_conversation == pytest.approx(4.5)


def test_run_dir_without_records_is_a_clear_error(tmp_path: Path) -> None:
    """No records.jsonl, or nothing replayable in it: DatasetError naming the file."""
    with pytest.raises(DatasetError, match="records.jsonl"):
        load_run_workload(tmp_path, seed=0)
    _records(tmp_path / "empty", [{"id": 1}])
    with pytest.raises(DatasetError, match="no record"):
        load_run_workload(tmp_path / "empty", seed=0)
