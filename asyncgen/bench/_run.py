"""Run one benchmark end to end: probe, steps, outputs, report."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from rich.console import Console

from asyncgen import offload
from asyncgen.bench._display import LiveView, steps_table
from asyncgen.bench._html import write_report
from asyncgen.bench._probe import TransportProbe
from asyncgen.bench._profiles import PROFILES, ProfileOutcome, run_profile
from asyncgen.bench._result import BenchResult, config_text, headline, write_outputs
from asyncgen.bench._rundir import RunDirWorkload, load_run_workload
from asyncgen.bench._stats import StepStats
from asyncgen.bench._step import Clock, StepRunner
from asyncgen.bench._workload import Workload, make_workload
from asyncgen.config.bench import BenchSettings
from asyncgen.config.root import RunConfig
from asyncgen.errors import ConfigError

WallClock = Callable[[], datetime]


@dataclass(frozen=True)
class Target:
    """The endpoint under test; the key is held only to hand to the transport."""

    base_url: str
    model: str
    api_key: str | None


def _now() -> datetime:
    return datetime.now(UTC)


async def run_bench(
    config: RunConfig,
    profile: str,
    target: Target,
    out_dir: Path,
    *,
    console: Console | None = None,
    clock: Clock = time.monotonic,
    wall: WallClock = _now,
) -> BenchResult:
    """Benchmark `target` with `profile`; write bench.json, the report, PNG and config block.

    An interrupted benchmark still writes what its finished steps measured, then re-raises.

    Raises:
        ConfigError: an unknown profile.
        DatasetError: an unreadable prompts file.
        StoreError: the output directory cannot be written.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown bench profile {profile!r}: choose one of {', '.join(PROFILES)}")
    console = console or Console()
    s = config.bench
    workload = _workload(s)
    meta: dict[str, Any] = {
        "base_url": target.base_url,
        "model": target.model,
        "started_at": wall().isoformat(timespec="seconds"),
        "settings": s.model_dump(mode="json"),
        "workload": _describe(workload, s),
    }
    view = LiveView(profile, console)
    advertised: dict[str, Any] = {}
    try:
        async with TransportProbe.open(
            config.llm, target.base_url, target.model, target.api_key, s, clock=clock
        ) as probe:
            runner = StepRunner(probe, workload, s, clock=clock)
            view.progress = lambda: runner.progress
            view.outlook = lambda: runner.outlook() if runner.outlook else ("", None)
            try:
                async with view.running():
                    outcome = await run_profile(profile, runner, _on_step(view, console))
            finally:
                advertised = probe.advertised()
    except (asyncio.CancelledError, KeyboardInterrupt):
        summary = {"stop_reason": "interrupted", "peak": None}
        partial = ProfileOutcome(profile, list(view.steps), summary)
        with anyio.CancelScope(shield=True):  # the steps already run are kept, off the loop
            await offload.cpu(_save, _result(partial, advertised, s.headroom, meta, wall), out_dir)
        raise
    result = _result(outcome, advertised, s.headroom, meta, wall)
    await offload.cpu(_save, result, out_dir)  # matplotlib rendering is CPU work
    return result


def _workload(s: BenchSettings) -> Workload:
    if s.run_dir:
        return load_run_workload(s.run_dir, seed=s.seed, stream=s.stream)
    return make_workload(
        prompt_tokens=s.prompt_tokens,
        output_tokens=s.output_tokens,
        prompts_file=s.prompts_file,
        stream=s.stream,
        seed=s.seed,
    )


def _describe(workload: Workload, s: BenchSettings) -> dict[str, Any]:
    """What was sent: a run directory's calls, a prompts file, or fixed lengths."""
    if isinstance(workload, RunDirWorkload):
        return workload.describe()
    if s.prompts_file:
        return {"source": s.prompts_file, "calls_per_conversation": 1.0}
    return {
        "source": "fixed",
        "mean_prompt_tokens": s.prompt_tokens,
        "mean_max_tokens": s.output_tokens,
        "calls_per_conversation": 1.0,
    }


def _result(
    outcome: ProfileOutcome,
    advertised: dict[str, Any],
    headroom: float,
    meta: dict[str, Any],
    wall: WallClock,
) -> BenchResult:
    finished = wall().isoformat(timespec="seconds")
    return BenchResult.build(
        outcome, advertised=advertised, headroom=headroom, finished_at=finished, **meta
    )


def _save(result: BenchResult, out_dir: Path) -> None:
    """bench.json, suggested_config.yaml, report.html and bench.png."""
    write_outputs(result, out_dir)
    write_report(result, out_dir)


def _on_step(view: LiveView, console: Console) -> Callable[[StepStats], None]:
    """Add each finished step to the live table; print it when there is no live display."""

    def on_step(step: StepStats) -> None:
        view.add(step)
        if not console.is_terminal:
            _, left = view.outlook() if view.outlook else ("", None)
            phase = f" {step.phase}" if step.phase else ""
            console.print(
                f"step{phase} x={step.x:g}: {step.requests} sent, {step.success_per_s:.2f} ok/s, "
                f"429 {step.rate_limited_fraction:.1%}, errors {step.other_error_fraction:.1%}, "
                f"p50 {step.latency['p50'] or 0:.3f}s"
                + ("" if left is None else f"; ≈{left:.0f} s left"),
                markup=False,
                highlight=False,
            )

    return on_step


def print_summary(result: BenchResult, out_dir: Path, console: Console) -> None:
    """The final table, the findings, and where the files are."""
    console.print(steps_table(result.steps, result.profile))
    console.print(
        "[bold]Retries and client-side limiter were OFF[/]: figures are the endpoint's own."
    )
    for line in headline(result):
        console.print(line, markup=False, highlight=False)
    console.print("\nSuggested config (also in suggested_config.yaml):")
    console.print(config_text(result), markup=False, highlight=False)
    console.print(f"Results: {out_dir / 'bench.json'}  Report: {out_dir / 'report.html'}")
