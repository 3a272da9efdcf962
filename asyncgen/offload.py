"""The one way off the event loop: blocking calls run in worker threads, through anyio.

`to_thread(func, *args)` is for blocking file and system calls (anyio's default pool).
`cpu(func, *args)` is for CPU-heavy work (loading and parsing whole datasets, encoding
text, building plans): it runs under one named `CapacityLimiter` of `cores - 1` slots
(at least one), so CPU work never holds every worker thread (file work still gets one)
and never runs more threads than the machine has cores to spare beside the loop.
Both wait for the thread to finish when the caller is cancelled: a write is never left
half-done behind a cancelled run.

`in_background(func, *args)` is for the one moment with no loop yet to lend anyio's pool:
the CLI starting up. It starts a blocking call (the run directory's fsyncs) in a thread of
its own so the process goes on loading and setting up; the loop later waits for it with
`settle`. That thread is not a daemon: the interpreter waits for it at exit, so its
writes are never left half-done either.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.to_thread

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

CPU_LIMITER_NAME = "asyncgen-cpu"
_cpu_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def cpu_slots() -> int:
    """Threads CPU work may use at once: the cores beside the event loop's."""
    return max(1, (os.cpu_count() or 1) - 1)


def cpu_limiter() -> anyio.CapacityLimiter:
    """The running loop's limiter for CPU work (one per loop: limiters bind to a loop)."""
    loop = asyncio.get_running_loop()
    limiter = _cpu_limiters.get(loop)
    if limiter is None:
        limiter = _cpu_limiters[loop] = anyio.CapacityLimiter(cpu_slots())
    return limiter


async def to_thread(func: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """Run a blocking file or system call in a worker thread."""
    return await anyio.to_thread.run_sync(func, *args)


async def cpu(func: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """Run CPU-heavy work in a worker thread under the `asyncgen-cpu` limiter."""
    return await anyio.to_thread.run_sync(func, *args, limiter=cpu_limiter())


def in_background(func: Callable[[Unpack[Ts]], T], *args: *Ts) -> concurrent.futures.Future[T]:
    """Start a blocking call in a thread of its own before any event loop runs; `settle`
    (on the loop) returns its result or raises its error."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(func(*args))
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, name="asyncgen-start", daemon=False).start()
    return future


async def settle(future: concurrent.futures.Future[T]) -> T:
    """Wait on the loop, without holding a worker thread, for a call `in_background` started."""
    return await asyncio.wrap_future(future)
