"""Progress: a rich live table on a terminal, a compact log line without one, or nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal

from asyncgen.engine.fmt import fmt_count as fmt_count
from asyncgen.engine.fmt import fmt_duration as fmt_duration
from asyncgen.engine.tally import Snapshot
from asyncgen.engine.tasks import stop_task
from asyncgen.jsontypes import JsonObject

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from asyncgen.engine.stages import StageRow

Mode = Literal["live", "log", "off"]


def _against(value: float, limit: float | None) -> str:
    return f"{fmt_count(value)}/{fmt_count(limit)}" if limit else fmt_count(value)


def _cost(snap: Snapshot) -> str:
    projected = f" → ${snap.projected_cost:.2f}" if snap.projected_cost is not None else ""
    return f"${snap.cost_usd:.2f}{projected}"


def _mix(snap: Snapshot) -> str:
    total = sum(snap.model_mix.values())
    if not total:
        return "-"
    parts = sorted(snap.model_mix.items(), key=lambda kv: -kv[1])[:4]
    return ", ".join(f"{model} {count / total:.0%}" for model, count in parts)


def progress_line(snap: Snapshot) -> str:
    """One compact line for logs (no terminal): everything the live table shows."""
    share = snap.done / snap.target if snap.target else 1.0
    return (
        f"progress {snap.done}/{snap.target} ({share:.0%}) "
        f"ok {snap.session_done} failed {snap.failed} rejected {snap.rejected} "
        f"in-flight {snap.in_flight} | {snap.records_per_s:.1f} rec/s "
        f"{snap.requests_per_s:.1f} req/s | rpm {_against(snap.rpm, snap.rpm_limit)} "
        f"tpm {_against(snap.tpm, snap.tpm_limit)} | 429s {snap.rate_limited} "
        f"retries {snap.retries} | p50 {snap.latency_p50:.2f}s p95 {snap.latency_p95:.2f}s | "
        f"cost {_cost(snap)} | eta {fmt_duration(snap.eta_s)} | "
        f"lag p99 {snap.lag_p99_ms:.0f}ms | mix {_mix(snap)}"
        + (f" | {batch_line(snap.batch)}" if snap.batch else "")
        + (f" | diversity {diversity_line(snap.diversity)}" if snap.diversity else "")
    )


def diversity_line(figures: JsonObject) -> str:
    """The diversity watch's window: distinct-2, nearest-neighbour similarity, any warning."""
    text = (
        f"distinct-2 {figures.get('distinct_2', 0):.3f} "
        f"nn-sim {figures.get('nn_similarity_mean', 0):.3f} "
        f"(last {figures.get('window', 0)})"
    )
    return text + (" WARNING: " + str(figures["warning"]) if figures.get("warning") else "")


def batch_line(batch: JsonObject) -> str:
    """Batch mode's progress: rounds, batches and requests by state, ETA from round times."""
    states = ", ".join(
        f"{name} {v['batches']} ({fmt_count(v['requests'])} req)"
        for name, v in (batch.get("states") or {}).items()
    )
    round_time = batch.get("round_time_s")
    per_round = f" {fmt_duration(round_time)}/round" if round_time is not None else ""
    return (
        f"{batch.get('mode', 'batch')} round {batch.get('rounds', 0)}: {states or 'gathering'}"
        f"{per_round} eta {fmt_duration(batch.get('eta_s'))}"
    )


def progress_table(
    snap: Snapshot | None, title: str = "asyncgen", stages: Sequence[StageRow] = ()
) -> Table:
    """The live display's table: the stages, then the records (once the run has them)."""
    from rich.table import Table  # rich loads with a display: a quiet run starts sooner

    table = Table(title=title, show_header=False, box=None, padding=(0, 1))
    table.add_column(style="bold")
    table.add_column()
    for stage in stages:
        table.add_row(stage.label, stage.text())
    if snap is None:
        return table
    share = snap.done / snap.target if snap.target else 1.0
    rows = [
        ("records", f"{snap.done}/{snap.target} ({share:.1%})"),
        ("success", f"{snap.session_done} ({snap.success_rate:.1%})"),
        ("failed / rejected", f"{snap.failed} / {snap.rejected}"),
        ("in flight", str(snap.in_flight)),
        ("rate", f"{snap.records_per_s:.1f} rec/s  {snap.requests_per_s:.1f} req/s"),
        (
            "RPM / TPM",
            f"{_against(snap.rpm, snap.rpm_limit)}  {_against(snap.tpm, snap.tpm_limit)}",
        ),
        ("429s / retries", f"{snap.rate_limited} / {snap.retries}"),
        ("latency p50 / p95", f"{snap.latency_p50:.2f}s / {snap.latency_p95:.2f}s"),
        ("cost (projected)", _cost(snap)),
        ("elapsed / ETA", f"{fmt_duration(snap.elapsed)} / {fmt_duration(snap.eta_s)}"),
        ("loop lag p99", f"{snap.lag_p99_ms:.1f} ms"),
        ("model mix", _mix(snap)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    if snap.batch:
        table.add_row("batch", batch_line(snap.batch))
    if snap.diversity:
        table.add_row("diversity", diversity_line(snap.diversity))
    return table


def choose_mode(console: Console, *, quiet: bool) -> Mode:
    """Live on a terminal, log lines otherwise, nothing when quiet."""
    if quiet:
        return "off"
    return "live" if console.is_terminal else "log"


def display_for(
    console: Console | None, mode: Mode | None, *, quiet: bool
) -> tuple[Console | None, Mode]:
    """The console and mode of a display: none made (nor rich loaded) when it is off."""
    if mode is None and quiet:
        return console, "off"
    if console is None:
        from rich.console import Console

        console = Console(stderr=True)
    return console, mode or choose_mode(console, quiet=quiet)


class ProgressReporter:
    """Drives the chosen display from a snapshot function until stopped."""

    def __init__(
        self,
        sample: Callable[[], Snapshot] | None,
        *,
        mode: Mode,
        console: Console | None,
        logger: logging.Logger,
        log_interval: float,
        refresh: float = 1.0,
        title: str = "asyncgen",
        stages: Callable[[], Sequence[StageRow]] | None = None,
        transient: bool = False,
    ) -> None:
        self._sample = sample
        self._stages = stages
        self._transient = transient
        self.mode = mode
        self._console = console
        self._logger = logger
        self._log_interval = log_interval
        self._refresh = refresh
        self._title = title
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the display task (nothing when the mode is off)."""
        if self.mode == "live":
            self._task = asyncio.create_task(self._live(), name="progress")
        elif self.mode == "log":
            self._task = asyncio.create_task(self._log(), name="progress")

    async def aclose(self) -> None:
        """Stop the display, showing the final figures once."""
        if self._task is None:
            return
        await stop_task(self._task)
        self._task = None
        if self.mode == "log":
            self._logger.info(self._line())

    def _table(self) -> Table:
        snap = self._sample() if self._sample is not None else None
        stages = self._stages() if self._stages is not None else ()
        return progress_table(snap, self._title, stages)

    def _line(self) -> str:
        stages = self._stages() if self._stages is not None else ()
        parts = [f"{s.label} {s.text()}" for s in stages]
        if self._sample is not None:
            parts.append(progress_line(self._sample()))
        return "stages: " + " | ".join(parts) if self._sample is None else " | ".join(parts)

    async def _live(self) -> None:
        from rich.live import Live

        with Live(
            self._table(),
            console=self._console,
            auto_refresh=False,
            transient=self._transient,
        ) as live:
            try:
                while True:
                    await asyncio.sleep(self._refresh)
                    live.update(self._table(), refresh=True)
            finally:
                live.update(self._table(), refresh=True)

    async def _log(self) -> None:
        while True:
            await asyncio.sleep(self._log_interval)
            self._logger.info(self._line())
