"""Progress without a terminal (log lines), the live table, and the summary's arithmetic."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import replace

import pytest
from rich.console import Console

from asyncgen.engine import ProgressReporter, RunSummary, Snapshot, progress_line, render_summary
from asyncgen.engine.lag import Histogram
from asyncgen.engine.progress import choose_mode, fmt_duration
from asyncgen.llm.types import ClientBase

SNAP = Snapshot(
    elapsed=75.0,
    target=1000,
    done=412,
    session_done=400,
    failed=3,
    rejected=1,
    in_flight=17,
    records_per_s=2.5,
    requests_per_s=41.2,
    rpm=2472.0,
    tpm=1_250_000.0,
    rpm_limit=3000,
    tpm_limit=2_000_000,
    requests=3100,
    rate_limited=4,
    retries=9,
    latency_p50=0.41,
    latency_p95=1.2,
    tokens_in=900_000,
    tokens_out=120_000,
    cost_usd=0.12,
    projected_cost=0.3,
    eta_s=235.2,
    model_mix={"gpt-4o-mini": 300, "gpt-4o": 100},
    lag_p99_ms=3.4,
)


def test_progress_line_shows_every_figure_compactly() -> None:
    """One line carries done/target, outcomes, rates vs limits, 429s, latency, cost, ETA, mix."""
    line = progress_line(SNAP)
    for part in (
        "412/1000 (41%)",
        "ok 400 failed 3 rejected 1",
        "2.5 rec/s 41.2 req/s",
        "rpm 2472/3000",
        "tpm 1.2M/2.0M",
        "429s 4 retries 9",
        "p50 0.41s p95 1.20s",
        "cost $0.12 → $0.30",
        "eta 3:55",
        "lag p99 3ms",
        "gpt-4o-mini 75%, gpt-4o 25%",
    ):
        assert part in line, part
    assert "\n" not in line


def test_unknown_limits_and_eta_are_shown_as_such() -> None:
    """Without limits or a rate the line says so instead of inventing numbers."""
    line = progress_line(replace(SNAP, rpm_limit=None, eta_s=None, projected_cost=None))
    assert "rpm 2472 " in line and "eta ?" in line and "cost $0.12 |" in line


async def test_log_mode_writes_a_line_each_interval() -> None:
    """Without a terminal, a progress line is logged every interval, and a final one at close.

    Counted by event, not by a sleep: a pause of the test process (a full GC takes ~0.25 s
    once torch is loaded) let a fixed 0.18 s sleep see only one periodic line.
    """
    records: list[tuple[float, str]] = []
    three = asyncio.Event()

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((time.monotonic(), record.getMessage()))
            if len(records) == 3:
                three.set()

    logger = logging.getLogger("test.progress")
    logger.addHandler(Collect())
    logger.setLevel(logging.INFO)
    console = Console(file=io.StringIO(), width=100)
    assert choose_mode(console, quiet=False) == "log"
    interval = 0.05
    reporter = ProgressReporter(
        lambda: SNAP, mode="log", console=console, logger=logger, log_interval=interval
    )
    started = time.monotonic()
    reporter.start()
    await asyncio.wait_for(three.wait(), timeout=10)
    await reporter.aclose()
    assert len(records) == 4  # three periodic lines, then the final one at close
    assert all(text.startswith("progress 412/1000") for _, text in records)
    stamps = [started] + [at for at, _ in records[:3]]
    gaps = [later - earlier for earlier, later in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) >= interval * 0.9, gaps  # a line per interval, never faster
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]


async def test_live_mode_renders_the_table_on_a_terminal() -> None:
    """On a terminal the live table shows records, RPM against the limit and the ETA."""
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=True, color_system=None)
    assert choose_mode(console, quiet=False) == "live"
    assert choose_mode(console, quiet=True) == "off"
    reporter = ProgressReporter(
        lambda: SNAP,
        mode="live",
        console=console,
        logger=logging.getLogger("test"),
        log_interval=60,
        refresh=0.02,
    )
    reporter.start()
    await asyncio.sleep(0.1)
    await reporter.aclose()
    text = out.getvalue()
    assert "412/1000 (41.2%)" in text and "2472/3000" in text and "1:15 / 3:55" in text


def make_summary(**changes: object) -> RunSummary:
    """A summary of a run that replaced 5 failures and 2 rejects and was then interrupted."""
    base = RunSummary(
        pipeline="dialogue",
        run_dir="runs/x",
        status="interrupted",
        target=100,
        done=90,
        failed=5,
        rejected=2,
        not_started=10,
        unreplaced=0,
        dedup_rejects=2,
        supplement_rounds=1,
        max_supplement_rounds=3,
        done_before=40,
        session_done=50,
        session_failed=5,
        session_rejected=2,
        wall_time_s=25.0,
        cost_usd=1.5,
        cost_usd_total=2.0,
        loop_lag={"p50_ms": 0.2, "p99_ms": 4.0, "max_ms": 9.0},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_summary_counts_add_up_to_the_plan() -> None:
    """planned = done + failed + rejected + not started; replacements = planned - target."""
    summary = make_summary()
    assert summary.planned == 107 and summary.replacements == 7
    assert summary.target == summary.done + summary.not_started + summary.unreplaced
    assert summary.success_rate == pytest.approx(90 / 97)
    assert summary.throughput == pytest.approx(2.0) and summary.exit_code == 1
    data = summary.to_dict()
    assert data["planned"] == 107 and data["short"] == 10 and data["throughput_per_s"] == 2.0


def test_summary_table_shows_the_account() -> None:
    """The rich table carries the counts, rounds, cost and loop lag."""
    out = io.StringIO()
    Console(file=out, width=100).print(render_summary(make_summary(simulated=True)))
    text = out.getvalue()
    for part in ("90/100", "5 / 2", "10 / 0", "107 (+7 replacements)", "1/3", "$1.5000 / $2.0000"):
        assert part in text, part
    assert "0.2/4.0/9.0 ms" in text and "simulated" in text


def test_lag_histogram_percentiles_are_close() -> None:
    """Percentiles from the fixed buckets are within 5% of the true values."""
    hist = Histogram()
    for i in range(1, 1001):
        hist.add(i / 1000)
    assert hist.percentile(0.5) == pytest.approx(0.5, rel=0.05)
    assert hist.percentile(0.99) == pytest.approx(0.99, rel=0.05)
    assert hist.max == 1.0 and fmt_duration(3725) == "1:02:05"


def test_sampler_rates_and_eta_come_from_the_rolling_window() -> None:
    """Rates are measured over the window from an injected clock; ETA follows them."""
    from asyncgen.engine import LagMonitor, Planner, Tally
    from asyncgen.engine.tally import Sampler

    class Stats:
        requests = 0

        def snapshot(self) -> dict[str, object]:
            return {"requests": self.requests, "rpm_limit": 600, "rate_limited": 2}

    class Client(ClientBase):
        stats = Stats()

    now = [100.0]
    tally = Tally(target=100)
    planner = Planner(LocalPlan(), need=100, is_accounted=lambda _: False, max_rounds=0)
    sampler = Sampler(tally, planner, Client(), LagMonitor(), lambda: now[0], window=60.0)
    now[0], tally.done, Client.stats.requests = 110.0, 20, 40
    snap = sampler.sample()
    assert snap.records_per_s == pytest.approx(2.0) and snap.rpm == pytest.approx(240.0)
    assert snap.eta_s == pytest.approx(40.0) and snap.rpm_limit == 600
    now[0], tally.done = 200.0, 100
    assert sampler.sample().eta_s == 0.0


class LocalPlan:
    """A plan whose items are never asked for here."""

    def plan_item(self, index: int) -> object:
        raise AssertionError("not used")


def test_total_cost_adds_the_last_line_of_each_earlier_session(tmp_path: object) -> None:
    """A resumed run's total cost counts every earlier session once (even a killed one)."""
    from pathlib import Path

    import orjson

    from asyncgen.engine.summary import earlier_cost

    metrics = Path(str(tmp_path)) / "metrics.jsonl"
    lines = [
        {"session": "a", "cost_usd": 0.1},
        {"session": "a", "cost_usd": 0.4},
        {"session": "b", "cost_usd": 0.2},
        {"session": "now", "cost_usd": 9.0},
    ]
    metrics.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    assert earlier_cost(metrics, "now") == pytest.approx(0.6)
