"""The failure breaker: a run whose items keep failing stops early and says why."""

from __future__ import annotations

from pathlib import Path

from engine_support import LocalPipeline
from test_engine_run import assert_adds_up, make_config, run

from asyncgen.config import load_config
from asyncgen.engine.breaker import FailureBreaker


class AlwaysFails(LocalPipeline):
    """Every item fails, as with a model name the endpoint does not know."""

    variant = "always-fails"
    fail_every = 1


def test_sporadic_failures_never_trip_it() -> None:
    """One failure in five, for as long as it lasts, is not a systematic fault."""
    breaker = FailureBreaker(0.9, 200)
    assert all(breaker.observe("http_500" if i % 5 == 0 else None) is None for i in range(5000))
    assert breaker.tripped is None


def test_trips_once_past_the_share_and_names_the_commonest_reason() -> None:
    """From 50 ended items on, a share above the bar stops the run, once."""
    breaker = FailureBreaker(0.9, 200)
    messages = [breaker.observe("http_404" if i % 10 else "timeout") for i in range(60)]
    assert messages[:49] == [None] * 49
    assert messages[49] is not None and "http_404" in messages[49]
    assert messages[49].startswith("50 of the last 50 items")
    assert messages[50:] == [None] * 10  # said once


def test_disabled_breaker_never_trips() -> None:
    """`engine.stop_failure_share: null` runs every supplement round, as before."""
    breaker = FailureBreaker(None, 200)
    assert all(breaker.observe("auth") is None for _ in range(1000))


async def test_a_run_that_only_fails_stops_early_with_a_reason(tmp_path: Path) -> None:
    """500 planned items that all fail: the run stops after ~50, not after 2,000 attempts."""
    config = make_config(**{"engine.n": 500})
    pipeline = AlwaysFails(config)
    summary = await run(tmp_path, pipeline, config)
    assert summary.status == "failing" and summary.exit_code == 1
    assert summary.error is not None and "planned failure of item" in summary.error
    assert 50 <= summary.failed <= 60 and pipeline.calls == summary.failed
    assert_adds_up(summary, tmp_path)


async def test_without_the_breaker_the_rounds_run_out(tmp_path: Path) -> None:
    """The same run with the breaker off spends every supplement round and ends short."""
    settings = tmp_path / "asyncgen.yaml"
    settings.write_text("engine:\n  stop_failure_share: null\n", encoding="utf-8")
    fast = {"engine.n": 100, "engine.max_workers": 4, "engine.fsync_interval": 0.0}
    config = load_config(settings, {**fast, "dedup.enabled": False}, environ={}, env_file=None)
    assert config.engine.stop_failure_share is None
    summary = await run(tmp_path / "run", AlwaysFails(config), config)
    assert summary.status == "short" and summary.failed == 400 and summary.unreplaced == 100
    assert_adds_up(summary, tmp_path / "run")
