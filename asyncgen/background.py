"""Background tasks of a component with `start`/`aclose` (a writer, the ledger): an anyio
task group entered by `start` and exited by `aclose`.

Both must run in the same task, and a component started after another must be closed
before it (task groups nest like `async with` blocks; `contextlib.AsyncExitStack` keeps
that order). Errors of the tasks surface at `aclose`, never lost with a detached task.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVarTuple, Unpack

import anyio
from anyio.abc import TaskGroup

Ts = TypeVarTuple("Ts")


class BackgroundTasks:
    """A task group held open between `open` and `close`."""

    def __init__(self) -> None:
        self._group: TaskGroup | None = None

    @property
    def is_open(self) -> bool:
        """True between `open` and `close`."""
        return self._group is not None

    async def open(self) -> None:
        """Enter the task group (in the task that will call `close`)."""
        if self._group is not None:
            raise RuntimeError("background tasks already open")
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group

    def start_soon(
        self, func: Callable[[Unpack[Ts]], Coroutine[Any, Any, Any]], *args: *Ts, name: str
    ) -> None:
        """Run `func(*args)` in the group."""
        if self._group is None:
            raise RuntimeError("background tasks not open")
        self._group.start_soon(func, *args, name=name)

    async def close(self, *, cancel: bool = False) -> None:
        """Wait for the tasks to end (after cancelling them when `cancel`), then exit the
        group; an error of a task is raised here."""
        group, self._group = self._group, None
        if group is None:
            return
        if cancel:
            group.cancel_scope.cancel()
        await group.__aexit__(None, None, None)
