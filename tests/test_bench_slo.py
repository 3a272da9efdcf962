"""`bench slo` against a simulator that queues past its capacity, on 127.0.0.1.

With `max_concurrency` 8 queued and 0.1 s answers the server serves 80 requests/s;
past that the queue (and every latency) grows without bound. The SLO e2e_p95 <= 0.25 s
holds up to capacity (evenly paced arrivals and constant service do not queue before
it), so the search must land at or below 80/s, and a step far above it
must be caught over-saturating and stopped early.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from bench_support import inprocess_sim
from rich.console import Console
from typer.testing import CliRunner

from asyncgen.bench import Target, run_bench
from asyncgen.cli import app
from asyncgen.config import load_config
from asyncgen.errors import ConfigError

SLO_BENCH = {
    "slo": "e2e_p95<=0.25s",
    "start_rate": 20.0,
    "ramp_factor": 2.0,
    "rate_precision": 0.12,
    "step_seconds": 2.0,
    "warmup_seconds": 0.3,
    "cooldown_seconds": 0.3,
    "drain_seconds": 1.0,
    "prompt_tokens": 16,
    "output_tokens": 8,
}


async def test_slo_search_finds_the_rate_below_capacity(tmp_path: Path) -> None:
    """The highest rate meeting e2e_p95<=0.25s is at most 80/s; goodput is reported; the
    over-capacity step is flagged as over-saturated and cut short."""
    cfg = load_config(None, {f"bench.{k}": v for k, v in SLO_BENCH.items()}, environ={})
    sim: dict[str, Any] = {"max_concurrency": 8, "overload": "queue", "latency_median": 0.1}
    async with inprocess_sim(**sim) as (url, _app):
        target = Target(url, "sim-model", None)
        quiet = Console(file=io.StringIO())
        result = await run_bench(cfg, "slo", target, tmp_path, console=quiet)
    s = result.summary
    assert 40 <= s["max_meeting_slos"] <= 80, s  # evenly paced, 80/s just fits
    assert s["max_meeting_slos"] < s["first_failing"] <= 80 * 1.15
    assert s["goodput_per_s"] == pytest.approx(s["peak"]["success_per_s"], rel=0.1)
    assert s["over_saturation"], s["margins"]
    saturated = [st for st in result.steps if st.over_saturated]
    assert saturated and all(st.window_seconds < SLO_BENCH["step_seconds"] for st in saturated)
    assert (tmp_path / "bench.json").exists()


def test_slo_cli_refuses_a_bad_objective() -> None:
    """A typo in --slo is a ConfigError naming the objective, before anything is sent."""
    res = CliRunner().invoke(
        app, ["bench", "slo", "--base-url", "http://127.0.0.1:9/v1", "--slo", "ttft_p99=<2s"]
    )
    assert isinstance(res.exception, ConfigError) and "ttft_p99=<2s" in str(res.exception)


async def test_max_duration_caps_a_profile(tmp_path: Path) -> None:
    """Ten 1 s steps capped at 3 s: the profile ends in time with the steps it managed."""
    bench = {"rates": [5.0] * 10, "step_seconds": 1.0, "warmup_seconds": 0.1}
    bench |= {"cooldown_seconds": 0.1, "drain_seconds": 1.0, "max_duration": 3.0}
    cfg = load_config(None, {f"bench.{k}": v for k, v in bench.items()}, environ={})
    async with inprocess_sim(latency_median=0.01) as (url, _app):
        started = asyncio.get_running_loop().time()
        quiet = Console(file=io.StringIO())
        result = await run_bench(
            cfg, "rate", Target(url, "sim-model", None), tmp_path, console=quiet
        )
        took = asyncio.get_running_loop().time() - started
    assert 1 <= len(result.steps) <= 3
    assert took < 3.0 + 2.5  # the cap, plus one drain and the report
