"""Small anyio helpers of the engine: racing waits, stopping background tasks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import anyio


async def first_of(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return once the first of `waits` returns; the others are cancelled and awaited.

    An exception from one of them propagates as itself (not as a one-member group).
    """
    try:
        async with anyio.create_task_group() as group:

            async def run(wait: Callable[[], Awaitable[object]]) -> None:
                await wait()
                group.cancel_scope.cancel()

            for wait in waits:
                group.start_soon(run, wait)
    except BaseExceptionGroup as group_error:
        if len(group_error.exceptions) == 1:
            raise group_error.exceptions[0] from None
        raise


async def stop_task(task: asyncio.Task[None]) -> None:
    """Cancel `task` and wait until it has stopped; its cancellation is not re-raised."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
