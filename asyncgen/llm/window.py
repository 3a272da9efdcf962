"""A FIFO semaphore whose size can change while tasks wait: the adaptive concurrency window."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque


class Window:
    """At most `limit` holders at once; `set_limit` grows or shrinks it, waking waiters in order."""

    def __init__(self, limit: float, cap: int) -> None:
        self.cap = cap
        self.limit = float(min(max(limit, 1.0), cap))
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def size(self) -> int:
        """The whole number of slots currently allowed."""
        return int(self.limit)

    @property
    def waiting(self) -> int:
        """Tasks queued for a slot."""
        return len(self._waiters)

    async def acquire(self) -> None:
        """Wait for a slot (FIFO)."""
        if self.active < int(self.limit) and not self._waiters:
            self.active += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # woken and cancelled in the same tick: hand the slot on
            else:
                self._remove(fut)
            raise

    def release(self) -> None:
        """Give a slot back."""
        self.active -= 1
        self._wake()

    def set_limit(self, limit: float) -> None:
        """Resize to `limit` (clamped to 1..cap); extra slots go to waiters at once."""
        self.limit = float(min(max(limit, 1.0), self.cap))
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.active < int(self.limit):
            fut = self._waiters.popleft()
            if not fut.done():
                self.active += 1
                fut.set_result(None)

    def _remove(self, fut: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(fut)
        except ValueError:
            pass


class PriorityLock:
    """A FIFO lock in which urgent waiters (retries) go ahead of first attempts.

    A retry has already waited once for its turn; sending it first shortens the tail of a
    run without sending anything sooner than the rate allows.
    """

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    @property
    def locked(self) -> bool:
        """True while a task holds the lock."""
        return self._locked

    async def acquire(self, *, urgent: bool = False) -> None:
        """Wait for the lock; urgent waiters are served before the others."""
        if not self._locked and not self._urgent and not self._normal:
            self._locked = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the lock was handed to us as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):  # a release may have dropped it already
                    queue.remove(fut)
            raise

    def release(self) -> None:
        """Hand the lock to the next waiter (urgent first), or unlock."""
        for queue in (self._urgent, self._normal):
            while queue:
                fut = queue.popleft()
                if not fut.done():
                    fut.set_result(None)
                    return
        self._locked = False
