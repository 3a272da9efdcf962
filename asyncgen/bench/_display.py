"""The rich table shown while a benchmark runs and again at its end."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from asyncgen.bench._stats import StepStats
from asyncgen.bench._step import StepProgress


def _f(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def steps_table(steps: list[StepStats], profile: str, title: str | None = None) -> Table:
    """One row per step: load, throughput, failures by kind, latency percentiles."""
    x_name = "conc." if profile == "sweep" else "rate/s"
    table = Table(title=title or f"asyncgen bench {profile}", title_justify="left")
    names = (x_name, "sent", "ok/s", "tok/s in|out", "429", "errors", "p50 s", "p99 s", "TTFT")
    for name in names:
        table.add_column(name, justify="left" if name == "errors" else "right", no_wrap=True)
    for s in steps:
        errors = ", ".join(f"{k}:{n}" for k, n in s.errors.items() if k != "429") or "–"
        table.add_row(
            f"{s.x:.4g}" + ("*" if s.superseded else "") + (f" {s.phase}" if s.phase else ""),
            str(s.requests),
            _f(s.success_per_s),
            f"{s.input_tokens_per_s:.0f}|{s.output_tokens_per_s:.0f}",
            f"{s.rate_limited} ({s.rate_limited_fraction:.0%})",
            errors,
            _f(s.latency["p50"], 3),
            _f(s.latency["p99"], 3),
            _f(s.ttft["p50"], 3),
            style="dim" if s.superseded else None,
        )
    if any(s.superseded for s in steps):
        table.caption = "* failures did not recur on a repeat: noise, left out of the findings"
    return table


Outlook = Callable[[], tuple[str, "float | None"]]


def progress_line(progress: StepProgress, outlook: Outlook | None = None) -> Text:
    """What the running step has done so far, and how long the profile expects to take."""
    plan = progress.plan
    if plan is None:
        return Text("starting…", style="dim")
    phase = f" {plan.phase}" if plan.phase else ""
    left = ""
    if outlook is not None:
        _, seconds = outlook()
        left = "" if seconds is None else f" · ≈{seconds:.0f} s left"
    return Text(
        f"step{phase} {plan.arrivals} x={plan.x:g}: sent {progress.sent}, ok {progress.ok}, "
        f"429 {progress.rate_limited}, errors {progress.errors}, in flight {progress.in_flight}"
        f"{left}",
        style="cyan",
    )


class LiveView:
    """Holds finished steps and renders them with the running step's progress."""

    def __init__(self, profile: str, console: Console) -> None:
        self.profile = profile
        self.console = console
        self.steps: list[StepStats] = []
        self.progress: Any = None
        self.outlook: Outlook | None = None

    def add(self, step: StepStats) -> None:
        """Record a finished step."""
        self.steps.append(step)

    def render(self) -> RenderableType:
        """Table so far plus the progress line."""
        parts: list[RenderableType] = [steps_table(self.steps, self.profile)]
        if self.progress is not None:
            parts.append(progress_line(self.progress(), self.outlook))
        return Group(*parts)

    @contextlib.asynccontextmanager
    async def running(self, interval: float = 0.5) -> AsyncIterator[None]:
        """Refresh the live table from a coroutine (no refresh thread) until the block ends."""
        if not self.console.is_terminal:
            yield
            return
        with Live(self.render(), console=self.console, auto_refresh=False, transient=True) as live:
            task = asyncio.create_task(self._tick(live, interval))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _tick(self, live: Live, interval: float) -> None:
        while True:
            live.update(self.render(), refresh=True)
            await asyncio.sleep(interval)
