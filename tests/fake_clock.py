"""A clock for limiter tests: time moves only when a task sleeps, so pacing is exact."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Time that only moves when a task sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)
