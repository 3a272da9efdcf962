"""Stopping the engine's background tasks: loop-lag ticker, metrics cadence, progress display."""

from __future__ import annotations

import asyncio
import contextlib


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait until it has stopped; its cancellation is not re-raised."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
