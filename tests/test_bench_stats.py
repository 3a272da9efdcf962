"""Bench statistics, workloads, arrivals and outputs, without a network."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from asyncgen.bench import (
    BenchResult,
    FixedWorkload,
    ProfileOutcome,
    Sample,
    classify,
    config_text,
    load_prompts,
    percentile,
    render_html,
    summarise,
)
from asyncgen.bench._arrivals import constant_arrivals, poisson_arrivals
from asyncgen.bench._stats import slope
from asyncgen.cli.bench_cmd import parse_rates
from asyncgen.errors import (
    ConfigError,
    DatasetError,
    LLMTimeoutError,
    RateLimitError,
    ServerError,
)
from asyncgen.llm.errors import MalformedAnswerError
from asyncgen.tokens import count_tokens


def test_percentile_matches_numpy() -> None:
    """p50/p90/p99 agree with numpy's linear interpolation."""
    rng = random.Random(3)
    values = [rng.lognormvariate(0, 1) for _ in range(501)]
    for q in (50, 90, 99):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([], 50) is None


def test_summary_counts_every_failure_by_kind() -> None:
    """429s and other errors stay in the counts; rates divide by the window."""
    samples = [Sample(0.0, 0.1 * (i + 1), prompt_tokens=10, completion_tokens=5) for i in range(6)]
    samples += [Sample(0.0, 0.01, "429", retry_after=1.0), Sample(0.0, 0.01, "429")]
    samples += [Sample(0.0, 0.02, "503"), Sample(0.0, 5.0, "unfinished")]
    st = summarise(
        samples, profile="rate", x=5, arrivals="constant", window_seconds=2.0, latency_target=0.35
    )
    assert (st.requests, st.successes, st.failures, st.rate_limited) == (10, 6, 4, 2)
    assert st.errors == {"429": 2, "503": 1, "unfinished": 1}
    assert st.requests_per_s == 5.0 and st.success_per_s == 3.0
    assert st.input_tokens_per_s == 30.0 and st.output_tokens_per_s == 15.0
    assert st.rate_limited_fraction == 0.2 and st.other_error_fraction == 0.2
    assert st.goodput_per_s == 1.5  # three answers took 0.35 s or less
    assert st.latency["p50"] == pytest.approx(0.35)
    assert st.retry_after["count"] == 2 and st.retry_after["with_header"] == 1
    assert st.retry_after["histogram"] == {"1": 1}


def test_draining_remaining_header_lowers_the_sustainable_rate() -> None:
    """A step that empties the endpoint's bucket is credited only with what refills."""
    st = summarise(
        [Sample(0.0, 0.05) for _ in range(22)],
        profile="find-limit",
        x=11,
        arrivals="constant",
        window_seconds=2.0,
    )
    st.remaining_requests_slope = slope([(t / 10, 600 - t / 10) for t in range(20)])
    assert st.remaining_requests_slope == pytest.approx(-1.0)
    assert st.sustained_success_per_s == pytest.approx(10.0)
    st.remaining_requests_slope = 0.0
    assert st.sustained_success_per_s == pytest.approx(11.0)


def test_failures_are_named() -> None:
    """Each failure maps to a short stable kind."""
    assert classify(RateLimitError("x")) == "429"
    assert classify(ServerError("x", status_code=503)) == "503"
    assert classify(LLMTimeoutError("x")) == "timeout"
    assert classify(MalformedAnswerError("x")) == "malformed_answer"
    assert classify(ValueError("x")) == "exception:ValueError"


def test_arrivals_have_the_requested_rate() -> None:
    """Constant arrivals are evenly spaced; Poisson ones average the same rate, seeded."""
    it = constant_arrivals(4.0)
    assert [next(it) for _ in range(3)] == [0.0, 0.25, 0.5]
    gen = poisson_arrivals(20.0, random.Random(1))
    times = [next(gen) for _ in range(4001)]
    assert times[-1] / 4000 == pytest.approx(1 / 20.0, rel=0.05)
    again = poisson_arrivals(20.0, random.Random(1))
    assert [next(again) for _ in range(4001)] == times


def test_fixed_workload_has_the_requested_lengths() -> None:
    """Fixed prompts have about prompt_tokens tokens, are numbered, and ask for output_tokens."""
    work = FixedWorkload(prompt_tokens=200, output_tokens=16)
    first, second = work.next_request(), work.next_request()
    assert 196 <= count_tokens(first.messages[0]["content"]) <= 206
    assert first.messages != second.messages and first.max_tokens == 16


def test_prompts_file_accepts_bodies_and_names_bad_lines(tmp_path: Path) -> None:
    """A JSONL of chat bodies or {"messages"} loads; a bad line is reported with its number."""
    good = tmp_path / "p.jsonl"
    good.write_text(
        '{"model": "x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 7}\n'
        '\n{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}],'
        ' "temperature": 0.2, "kind": "judge"}\n'
    )
    loaded = load_prompts(good, default_max_tokens=32)
    assert [r.max_tokens for r in loaded] == [7, 32]
    assert loaded[1].kind == "judge" and loaded[1].temperature == 0.2
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"prompt": "x"}\n')
    with pytest.raises(DatasetError, match=r"bad.jsonl:2"):
        load_prompts(bad, 32)


def test_rate_option_is_validated() -> None:
    """--rate takes positive comma-separated numbers."""
    assert parse_rates("2, 4,8") == [2.0, 4.0, 8.0]
    with pytest.raises(ConfigError):
        parse_rates("2,fast")
    with pytest.raises(ConfigError):
        parse_rates("0")


def _result(advertised: dict[str, int] | None = None) -> BenchResult:
    steps = [
        summarise(
            [Sample(0.0, 0.1, prompt_tokens=50, completion_tokens=10, reserved_tokens=70)] * (2 * x)
            + [Sample(0.0, 0.0, "429", retry_after=1.0)] * (x // 4),
            profile="find-limit",
            x=float(x),
            arrivals="constant",
            window_seconds=1.0,
        )
        for x in (2, 4, 8)
    ]
    summary = {
        "sustainable_rpm": 480.0,
        "sustainable_tpm": 28800.0,
        "sustainable_tpm_reserved": 33600.0,
        "onset_rate_429": 8.0,
        "peak": None,
    }
    return BenchResult.build(
        ProfileOutcome("find-limit", steps, summary),
        advertised={"limit_requests": 500, "limit_tokens": 40000}
        if advertised is None
        else advertised,
        headroom=0.9,
        base_url="http://127.0.0.1:1/v1",
        model="m",
        started_at="t0",
        finished_at="t1",
        settings={"headroom": 0.9},
    )


def test_suggested_config_applies_headroom() -> None:
    """find-limit suggests rpm/tpm (reserved tokens) at 90% of the sustained figures, as YAML."""
    result = _result()
    assert result.suggested == {"llm": {"limits": {"rpm": 432, "tpm": 30240}}}
    assert "  limits:\n    rpm: 432" in config_text(result)


def test_suggested_config_keeps_only_the_advertised_dimension() -> None:
    """An endpoint that limits only tokens gets no RPM suggestion, and the other way round."""
    assert _result({"limit_tokens": 40000}).suggested["llm"]["limits"] == {"tpm": 30240}
    assert _result({"limit_requests": 500}).suggested["llm"]["limits"] == {"rpm": 432}


def test_report_is_self_contained() -> None:
    """The HTML embeds its plots, says retries and limiter were off, and fetches nothing."""
    page = render_html(_result(), [("Main", b"\x89PNG fake")])
    assert "data:image/png;base64," in page
    assert "Retries and client-side limiter OFF" in page
    assert "src='http" not in page and "<script" not in page


def test_public_api_is_pinned() -> None:
    """asyncgen.bench exports its public names once each, and they all exist."""
    import asyncgen.bench as bench

    assert len(set(bench.__all__)) == len(bench.__all__)
    assert all(hasattr(bench, name) for name in bench.__all__)
    assert {"run_bench", "BenchResult", "StepRunner", "TransportProbe"} <= set(bench.__all__)
