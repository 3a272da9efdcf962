"""Keep a running run's report.html fresh: rewritten on a cadence, and once at the end.

The engine pokes `LiveReport` from its metrics cadence; a rewrite starts only when
`report.refresh_interval` (or four times the last rewrite's duration, whichever is
longer) has passed since the previous one ended. A big run's rewrite runs in a child
process (`asyncgen.report.refresh`): the pass is pure Python and takes seconds, and in a
thread it would hold the GIL against the run's event loop; a small run's (records under
`IN_PROCESS_BYTES`) takes a fraction of a second in a worker thread, cheaper than
starting a Python. In-run rewrites skip the embedding pass; the last one, after the
summary, includes it once the run holds `MIN_EMBED_RECORDS` (loading the embedder costs a
tiny run more than the rest of its report). A report that cannot be written is logged
and never fails the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

from asyncgen import offload
from asyncgen.config.bench import ReportSettings

log = logging.getLogger("asyncgen.report")
IN_PROCESS_BYTES = 4_000_000  # about 1,500 dialogue or 3,000 interaction records
MIN_EMBED_RECORDS = 50  # below this the final rewrite skips the embedder's load


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
        enough = await offload.to_thread(self._records_at_least, MIN_EMBED_RECORDS)
        await self._write(live=False, embed=enough)

    async def _write(self, *, live: bool, embed: bool) -> None:
        started = self._clock()
        try:
            if await offload.to_thread(self._records_bytes) < IN_PROCESS_BYTES:  # stats a file
                problem = await self._in_thread(live=live, embed=embed)
            else:
                problem = await self._child(live=live, embed=embed)
        finally:
            took = self._clock() - started
            self._last = self._clock()
            # a big run's rewrite takes seconds of CPU next to the run: at most a fifth
            self._gap = max(self._settings.refresh_interval, 4 * took)
        if problem:  # the records are safe; the report is only a view of them
            log.warning("report.html not refreshed: %s", problem)
            return
        self.writes += 1
        log.info("report.html refreshed in %.2f s", took)

    def _records_at_least(self, count: int) -> bool:
        """Whether the records file holds `count` lines (read until it does)."""
        from asyncgen.report.reader import find_records_file

        seen = 0
        try:
            with find_records_file(self._run_dir).open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    seen += block.count(b"\n")
                    if seen >= count:
                        return True
        except OSError:
            return False
        return False

    def _records_bytes(self) -> int:
        from asyncgen.report.reader import find_records_file

        try:
            return find_records_file(self._run_dir).stat().st_size
        except OSError:
            return 0

    async def _in_thread(self, *, live: bool, embed: bool) -> str | None:
        from asyncgen.report.write import write_report

        try:
            await write_report(
                self._run_dir, sample_size=self._settings.sample_size, embed=embed, live=live
            )
        except Exception as exc:  # a report bug must not fail a run whose records are safe
            return f"{type(exc).__name__}: {exc}"
        return None

    async def _child(self, *, live: bool, embed: bool) -> str | None:
        """Run the report pass in a child process; None when it wrote the files."""
        args = [sys.executable, "-m", "asyncgen.report.refresh", str(self._run_dir)]
        args += ["--sample-size", str(self._settings.sample_size)]
        args += ["--live"] if live else []
        args += ["--embed"] if embed else []
        try:
            process = await asyncio.create_subprocess_exec(
                *args,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # a terminal Ctrl-C is the run's to handle
            )
        except OSError as exc:
            return f"cannot start the report process: {exc}"
        try:
            _, err = await process.communicate()
        except BaseException:  # cancelled with the run: do not leave it writing
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            raise
        if process.returncode:
            lines = err.decode("utf-8", "replace").strip().splitlines()
            return lines[-1] if lines else f"exit status {process.returncode}"
        return None
