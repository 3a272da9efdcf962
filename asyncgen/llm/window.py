"""A FIFO semaphore whose size can change while tasks wait: the adaptive concurrency window."""

from __future__ import annotations

import asyncio
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
