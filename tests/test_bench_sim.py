"""`asyncgen bench` against the built-in simulator on 127.0.0.1: real sockets, real limits."""

from __future__ import annotations

import asyncio
import io
import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from asyncgen.bench import StepPlan, StepRunner, Target, TransportProbe, make_workload, run_bench
from asyncgen.cli import app
from asyncgen.config import RunConfig, load_config
from asyncgen.errors import ConfigError

FAST = {"step_seconds": 1.5, "warmup_seconds": 0.3, "drain_seconds": 5.0, "cooldown_seconds": 1.0}


def _config(**bench: Any) -> RunConfig:
    overrides = {f"bench.{k}": v for k, v in {**FAST, **bench}.items()}
    return load_config(None, overrides, environ={}, env_file=None)


def _target(sim: Any) -> Target:
    return Target(base_url=sim.base_url, model="sim-model", api_key=sim.api_key)


def _console() -> Console:
    return Console(file=io.StringIO(), width=120)


async def test_sweep_finds_the_simulators_max_concurrency(sim_factory: Any, tmp_path: Path) -> None:
    """With --max-concurrency 6 and overload reject, the sweep's highest clean level is 6."""
    sim = sim_factory(max_concurrency=6, overload="reject", latency_median=0.1)
    cfg = _config(step_seconds=1.0, max_concurrency=64)
    result = await run_bench(cfg, "sweep", _target(sim), tmp_path, console=_console())
    assert result.summary["max_clean_concurrency"] == 6, result.summary
    assert result.summary["first_failing_concurrency"] == 7
    failing = [s for s in result.steps if s.x > 6]
    assert failing and all(s.errors.get("503", 0) > 0 for s in failing)
    assert result.suggested["llm"]["limits"]["concurrency"] == 6


async def _one_step(sim: Any, plan: StepPlan, **bench: Any) -> Any:
    cfg = _config(**bench)
    workload = make_workload(
        prompt_tokens=32, output_tokens=24, prompts_file=None, stream=cfg.bench.stream, seed=0
    )
    async with TransportProbe.open(cfg.llm, sim.base_url, "sim-model", None, cfg.bench) as probe:
        runner = StepRunner(probe, workload, cfg.bench)
        assert await runner.prime() == "ok"  # a cold simulator's first answer is slow
        return await runner.run(plan)


async def test_latency_percentiles_match_a_known_distribution(sim_factory: Any) -> None:
    """Lognormal latency (median 0.3 s, sigma 0.8): p50, p90 and their ratio land on the truth.

    Client and server overhead only add latency (more so on a busy machine), so the
    bounds allow more above the true value than below it.
    """
    sim = sim_factory(latency_median=0.3, latency_sigma=0.8, seed=7)
    step = await _one_step(sim, StepPlan("sweep", concurrency=48), step_seconds=3.0)
    assert step.requests >= 150 and step.successes == step.requests
    p50, p90 = step.latency["p50"], step.latency["p90"]
    true_p90 = 0.3 * math.exp(1.2816 * 0.8)
    assert 0.3 * 0.85 <= p50 <= 0.3 * 1.3
    assert true_p90 * 0.8 <= p90 <= true_p90 * 1.3
    assert p90 / p50 == pytest.approx(true_p90 / 0.3, rel=0.25)
    assert step.latency["p99"] > p90


async def test_constant_latency_and_open_loop_rate(sim_factory: Any) -> None:
    """Constant 0.3 s latency at 20 req/s: ~20/s sent without waiting, p50 ≈ 0.3 s."""
    sim = sim_factory(latency_median=0.3)
    step = await _one_step(sim, StepPlan("rate", rate=20.0), step_seconds=2.0)
    assert step.requests_per_s == pytest.approx(20.0, rel=0.06)
    assert step.max_in_flight >= 5  # sends did not wait for answers
    assert 0.3 <= step.latency["p50"] <= 0.33


async def test_poisson_arrivals_average_the_rate(sim_factory: Any) -> None:
    """Poisson arrivals at 40/s send about 40/s over the window."""
    sim = sim_factory()
    step = await _one_step(sim, StepPlan("rate", rate=40.0, poisson=True), step_seconds=2.0)
    assert step.arrivals == "poisson"
    assert 25 <= step.requests_per_s <= 55
    assert step.successes == step.requests


async def test_streaming_measures_ttft_and_inter_token_latency(sim_factory: Any) -> None:
    """Streamed answers paced at 10 ms/token: TTFT ≈ the 50 ms latency, ITL ≈ 10-20 ms."""
    sim = sim_factory(latency_median=0.05, seconds_per_output_token=0.01)
    step = await _one_step(sim, StepPlan("sweep", concurrency=4), stream=True, step_seconds=1.5)
    assert step.successes == step.requests > 0
    assert 0.05 <= step.ttft["p50"] <= 0.12
    assert 0.008 <= step.itl["p50"] <= 0.03
    assert step.latency["p50"] > step.ttft["p50"]


async def test_rate_limited_steps_count_429s_and_retry_after(sim_factory: Any) -> None:
    """Far past --rpm 120, 429s are counted (never dropped) with their Retry-After advice."""
    sim = sim_factory(rpm=120)
    step = await _one_step(sim, StepPlan("rate", rate=10.0), step_seconds=1.5)
    assert step.rate_limited > step.requests / 3
    assert step.successes + sum(step.errors.values()) == step.requests
    assert step.retry_after["count"] == step.rate_limited
    assert step.retry_after["with_header"] == step.rate_limited
    assert step.retry_after["min"] >= 0.001


def test_cli_rate_profile_writes_results(sim_factory: Any, tmp_path: Path) -> None:
    """`asyncgen bench rate` with a prompts file runs, prints the table and writes its files."""
    sim = sim_factory(latency_median=0.01)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"messages": [{"role": "user", "content": "Plan a trip to Rome."}]}\n')
    out = tmp_path / "out"
    args = ["bench", "rate", "--base-url", sim.base_url, "--model", "sim-model", "--out", str(out)]
    args += ["--rate", "5,10", "--step-seconds", "1", "--warmup", "0.2", "--prompts", str(prompts)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Retries and client-side limiter were OFF" in res.output
    data = orjson.loads((out / "bench.json").read_bytes())
    assert [s["x"] for s in data["steps"]] == [5.0, 10.0]
    assert data["settings"]["prompts_file"] == str(prompts)


def test_cli_refuses_unknown_profile_and_remote_without_key(tmp_path: Path) -> None:
    """A bad profile, or a remote endpoint with no key, is a ConfigError naming the fix."""
    runner = CliRunner()
    res = runner.invoke(app, ["bench", "bogus", "--base-url", "http://127.0.0.1:9/v1"])
    assert isinstance(res.exception, ConfigError) and "find-limit" in str(res.exception)
    res = runner.invoke(app, ["bench", "sweep", "--base-url", "https://api.example.com/v1"])
    assert isinstance(res.exception, ConfigError) and "OPENAI_API_KEY" in str(res.exception)


async def test_interrupted_bench_keeps_its_finished_steps(sim_factory: Any, tmp_path: Path) -> None:
    """Cancelling a benchmark mid-way still writes bench.json and a report of finished steps."""
    sim = sim_factory(latency_median=0.01)
    cfg = _config(rates=[5.0] * 6, step_seconds=1.0, warmup_seconds=0.1, cooldown_seconds=0.2)
    task = asyncio.create_task(run_bench(cfg, "rate", _target(sim), tmp_path, console=_console()))
    await asyncio.sleep(4.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    data = orjson.loads((tmp_path / "bench.json").read_bytes())
    assert data["summary"]["stop_reason"] == "interrupted"
    assert 1 <= len(data["steps"]) < 6
    assert (tmp_path / "report.html").exists()


async def test_open_loop_counts_arrivals_beyond_the_in_flight_cap(sim_factory: Any) -> None:
    """Past max_concurrency in flight, an open-loop arrival is a counted client_limit failure."""
    sim = sim_factory(latency_median=0.5)
    step = await _one_step(sim, StepPlan("rate", rate=40.0), step_seconds=1.0, max_concurrency=5)
    assert step.max_in_flight == 5
    assert step.errors.get("client_limit", 0) > step.requests / 2
    assert step.successes + sum(step.errors.values()) == step.requests
