"""metrics.jsonl: one line of rates, tokens, 429s, latency and loop lag every few seconds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from asyncgen.engine.lag import LagMonitor
from asyncgen.engine.tally import Snapshot
from asyncgen.engine.tasks import stop_task
from asyncgen.jsontypes import JsonObject
from asyncgen.store.jsonl import JsonlWriter


def metrics_line(snap: Snapshot, lag: LagMonitor, session: str, now: datetime) -> JsonObject:
    """The metrics line for one snapshot; loop lag is the window since the previous line."""
    line: JsonObject = {"t": now.isoformat(timespec="seconds"), "session": session}
    line.update(dataclasses.asdict(snap))
    line["elapsed"] = round(snap.elapsed, 3)
    for key in ("records_per_s", "requests_per_s", "rpm", "tpm"):
        line[key] = round(line[key], 3)
    line["loop_lag"] = lag.take_window().summary()
    return line


class MetricsRecorder:
    """Appends a metrics line every `interval` seconds, and a last one at close."""

    def __init__(
        self,
        writer: JsonlWriter,
        sample: Callable[[], Snapshot],
        lag: LagMonitor,
        *,
        interval: float,
        session: str,
        wall: Callable[[], datetime],
        on_line: Callable[[], None] | None = None,
        before_line: Callable[[], Awaitable[Any]] | None = None,
    ) -> None:
        self._writer = writer
        self._sample = sample
        self._lag = lag
        self._interval = interval
        self._session = session
        self._wall = wall
        self._on_line = on_line  # e.g. the live report's cadence check
        self._task: asyncio.Task[None] | None = None
        self._before_line = before_line  # e.g. the diversity watch's window figures

    def start(self) -> None:
        """Start the cadence task."""
        self._task = asyncio.create_task(self._run(), name="metrics")

    async def aclose(self) -> None:
        """Stop the cadence and write the final line."""
        if self._task is not None:
            await stop_task(self._task)
            self._task = None
        await self._emit()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._emit()

    async def _emit(self) -> None:
        if self._before_line is not None:
            await self._before_line()
        line = metrics_line(self._sample(), self._lag, self._session, self._wall())
        await self._writer.write(line)
        if self._on_line is not None:
            self._on_line()
