"""Keep a running run's report.html fresh: rewritten on a cadence, and once at the end.

The engine pokes `LiveReport` from its metrics cadence; a rewrite starts only when
`report.refresh_interval` (or three times the last rewrite's duration, whichever is
longer) has passed since the previous one ended. It runs in a worker thread (reading the
run, compressing the browser's chunks), so the loop never waits for it. In-run rewrites
skip the embedding pass; the last one, after the summary, includes it. A report that
cannot be written is logged and never fails the run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from asyncgen.config.bench import ReportSettings

log = logging.getLogger("asyncgen.report")


class LiveReport:
    """report.html and report.json of one run directory, refreshed while it runs."""

    def __init__(
        self,
        run_dir: Path,
        settings: ReportSettings,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._run_dir = run_dir
        self._settings = settings
        self._enabled = enabled and settings.refresh_during_run
        self._clock = clock
        self._last = clock()
        self._gap = settings.refresh_interval
        self._task: asyncio.Task[None] | None = None
        self.writes = 0

    def poke(self) -> None:
        """Start a rewrite if one is due and none is running (call on the event loop)."""
        if not self._enabled or (self._task is not None and not self._task.done()):
            return
        if self._clock() - self._last < self._gap:
            return
        self._task = asyncio.create_task(self._write(live=True, embed=False), name="live-report")

    async def finish(self) -> None:
        """Wait for a rewrite in flight, then write the run's final report."""
        if not self._enabled:
            return
        if self._task is not None:
            await self._task
        await self._write(live=False, embed=True)

    async def _write(self, *, live: bool, embed: bool) -> None:
        from asyncgen.report.write import write_report

        started = self._clock()
        try:
            await write_report(
                self._run_dir, sample_size=self._settings.sample_size, embed=embed, live=live
            )
        except Exception as exc:  # the records are safe; the report is a view of them
            log.warning("report.html not refreshed: %s: %s", type(exc).__name__, exc)
            return
        finally:
            took = self._clock() - started
            self._last = self._clock()
            # a big run's rewrite takes seconds of CPU next to the run: at most a quarter
            self._gap = max(self._settings.refresh_interval, 3 * took)
        self.writes += 1
        log.info("report.html refreshed in %.2f s", took)
