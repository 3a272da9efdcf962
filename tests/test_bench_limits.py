"""find-limit against every rate-limit algorithm of the simulator, on 127.0.0.1.

The simulator runs as a child process with high limits, so a saturation step collects
its admissions in a few seconds. The fixed-window case runs in-process (uvicorn on a
loopback socket, same event loop) on a clock twice as fast as real time (its 10 s
windows last 5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from bench_support import inprocess_sim
from rich.console import Console

from asyncgen.bench import (
    BenchResult,
    StepRunner,
    Target,
    TransportProbe,
    find_limit,
    make_workload,
    run_bench,
)
from asyncgen.config import load_config
from asyncgen.sim.embedded import start_simulator

FAST = {
    "start_rate": 20.0,
    "probe_seconds": 1.0,
    "ramp_seconds": 1.0,
    "measure_seconds": 2.0,
    "min_admitted": 120,
    "measure_max_seconds": 25.0,
    "drain_seconds": 2.0,
    "cooldown_seconds": 0.0,
    "warmup_seconds": 0.0,
    "prompt_tokens": 32,
    "output_tokens": 16,
    "max_duration": 60.0,
}
NOISE = {"latency_median": 0.03, "latency_sigma": 0.5, "seed": 3}
RPM = 3000


@contextlib.asynccontextmanager
async def _child(**settings: Any) -> AsyncIterator[tuple[str, None]]:
    async with start_simulator(**settings) as running:
        yield running.base_url, None


async def _find_limit(
    tmp: Path,
    scale: float = 1.0,
    files: bool = False,
    measure_seconds: float | None = None,
    **sim: Any,
) -> Any:
    """find-limit against an in-process simulator; `files` also writes the report (slower)."""
    bench = {**FAST, "measure_seconds": measure_seconds or FAST["measure_seconds"]}
    overrides = {f"bench.{k}": v for k, v in bench.items()}
    cfg = load_config(None, overrides, environ={}, env_file=None)
    settings = {**NOISE, **sim}
    # a child process unless the clock is scaled: its own core, so the client's send times
    # are the server's admission times even on a busy machine
    place = inprocess_sim(scale, **settings) if scale != 1.0 else _child(**settings)
    async with place as (url, _app):
        if files:
            target = Target(base_url=url, model="sim-model", api_key=None)
            quiet = Console(file=io.StringIO())
            return await run_bench(cfg, "find-limit", target, tmp, console=quiet)
        s = cfg.bench
        workload = make_workload(
            prompt_tokens=s.prompt_tokens,
            output_tokens=s.output_tokens,
            prompts_file=None,
            stream=False,
            seed=0,
        )
        async with TransportProbe.open(cfg.llm, url, "sim-model", None, s) as probe:
            outcome = await find_limit(StepRunner(probe, workload, s))
            meta = {"base_url": url, "model": "sim-model", "started_at": "", "finished_at": ""}
            return BenchResult.build(
                outcome, advertised=probe.advertised(), headroom=0.9, settings={}, **meta
            )


ALGORITHMS: list[tuple[str, dict[str, Any]]] = [
    ("token_bucket", {"limiter": "token_bucket"}),
    ("rolling_1s", {"limiter": "rolling", "sub_window": 1.0}),
    ("gcra", {"limiter": "gcra"}),
]


@pytest.mark.parametrize(("name", "sim"), ALGORITHMS, ids=[a for a, _ in ALGORITHMS])
async def test_sustainable_rpm_within_3_percent(name: str, sim: dict[str, Any], tmp_path: Path):
    """Each algorithm at 6,000 RPM with lognormal latency: reported RPM within 3 %."""
    result = await _find_limit(tmp_path, files=name == "token_bucket", rpm=RPM, **sim)
    s = result.summary
    assert s["sustainable_rpm"] == pytest.approx(RPM, rel=0.03), s["explanation"]
    assert s["binding_dimension"] == "requests"
    assert s["method"] == "saturation"
    assert any("correction" in line for line in s["explanation"])
    assert s["duration_s"] < 40
    if name == "token_bucket":  # the files, once
        for file in ("bench.json", "report.html", "bench.png", "suggested_config.yaml"):
            assert (tmp_path / file).stat().st_size > 0
        data = orjson.loads((tmp_path / "bench.json").read_bytes())
        assert data["summary"]["explanation"] == s["explanation"]
        assert data["summary"]["headers_vs_observed"][0]["agrees"] is True
        assert 0 < result.suggested["llm"]["limits"]["rpm"] <= RPM
        assert "tpm" not in result.suggested["llm"]["limits"]


async def test_rolling_window_found_though_the_client_stalls(tmp_path: Path) -> None:
    """The event loop blocked 0.25 s every 1.5 s (a full GC with large libraries loaded,
    a loaded CI box): the 1 s rolling window is still found within 3 %, and the stall is
    said. Without the fix this read 2,650-2,900."""
    loop = asyncio.get_running_loop()
    handle: list[asyncio.TimerHandle] = []

    def stall() -> None:
        time.sleep(0.25)  # the whole client freezes; the simulator (a child process) does not
        handle.append(loop.call_later(1.5, stall))

    handle.append(loop.call_later(0.5, stall))
    try:
        result = await _find_limit(tmp_path, rpm=RPM, limiter="rolling", sub_window=1.0)
    finally:
        handle[-1].cancel()
    s = result.summary
    assert s["sustainable_rpm"] == pytest.approx(RPM, rel=0.03), s["explanation"]
    assert any("client stalled" in line for line in s["explanation"])


async def test_fixed_window_and_headers_that_understate_it(tmp_path: Path) -> None:
    """Azure-style fixed 10 s windows (clock ×2: 5 s): the rate is found, and the header,
    which gives one window's allowance, is flagged as disagreeing with the rate per minute.
    """
    result = await _find_limit(tmp_path, scale=2.0, rpm=1500, limiter="fixed_10s")
    s = result.summary
    assert s["sustainable_rpm"] == pytest.approx(RPM, rel=0.03), s["explanation"]
    rows = {r["dimension"]: r for r in s["headers_vs_observed"]}
    assert rows["requests_per_min"]["agrees"] is False
    assert s["disagreements"]


async def test_tpm_bound_reports_tokens(tmp_path: Path) -> None:
    """Only a token limit (token bucket): TPM is the binding dimension, within 3 %."""
    tpm = 200_000
    result = await _find_limit(tmp_path, tpm=tpm)
    s = result.summary
    assert s["binding_dimension"] == "tokens", s["explanation"]
    assert s["sustainable_tpm_reserved"] == pytest.approx(tpm, rel=0.03)
    assert set(result.suggested["llm"]["limits"]) == {"tpm", "concurrency"}


async def test_concurrency_only_reports_the_cap(tmp_path: Path) -> None:
    """A concurrency limiter: the binding dimension is concurrency, the cap is found."""
    result = await _find_limit(tmp_path, limiter="concurrency", concurrency_limit=4)
    s = result.summary
    assert s["binding_dimension"] == "concurrency", s["explanation"]
    assert s["sustainable_concurrency"] in (4, 5)
    assert result.suggested["llm"]["limits"]["concurrency"] == s["sustainable_concurrency"]


async def test_daily_budget_is_read_not_burned(tmp_path: Path) -> None:
    """A per-day request budget: reported from the headers, checked against the probe."""
    result = await _find_limit(tmp_path, limiter="daily", rpd=5000)
    s = result.summary
    assert s["binding_dimension"] == "requests_per_day"
    assert s["daily_budget"]["limit"] == 5000
    assert s["daily_budget"]["consistent"] is True
    assert s["sustainable_rpm"] == pytest.approx(5000 / 1440)
    assert len(result.steps) == 1  # the probe only: the budget is not spent
