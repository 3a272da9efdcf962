"""Event-loop lag, measured continuously by a ticker, kept in a fixed-size histogram."""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Callable

from asyncgen.engine.tasks import stop_task

# Log-spaced bucket bounds from 0.1 ms to ~100 s, 5% apart: fixed memory over any run.
_BOUNDS = [1e-4 * 1.05**i for i in range(int(math.log(1e6) / math.log(1.05)) + 2)]


class Histogram:
    """Counts of values in log-spaced buckets; percentiles within 5%, memory fixed."""

    def __init__(self) -> None:
        self._counts = [0] * (len(_BOUNDS) + 1)
        self.count = 0
        self.max = 0.0
        self.total = 0.0

    def add(self, value: float) -> None:
        """Record one value (seconds)."""
        self._counts[bisect.bisect_left(_BOUNDS, value)] += 1
        self.count += 1
        self.total += value
        self.max = max(self.max, value)

    def percentile(self, q: float) -> float:
        """The value below which a share `q` (0..1) of the values fall (0 when empty)."""
        if not self.count:
            return 0.0
        rank = q * self.count
        seen = 0
        for i, bucket in enumerate(self._counts):
            seen += bucket
            if seen >= rank and bucket:
                return min(_BOUNDS[i] if i < len(_BOUNDS) else self.max, self.max)
        return self.max

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts to this one."""
        self._counts = [a + b for a, b in zip(self._counts, other._counts, strict=True)]
        self.count += other.count
        self.total += other.total
        self.max = max(self.max, other.max)

    def summary(self) -> dict[str, float]:
        """p50, p99 and max in milliseconds."""
        return {
            "p50_ms": round(self.percentile(0.50) * 1000, 2),
            "p99_ms": round(self.percentile(0.99) * 1000, 2),
            "max_ms": round(self.max * 1000, 2),
        }


class LagMonitor:
    """Sleeps `interval` over and over; how late each wake-up is, is the loop's lag.

    `total` covers the whole run; `window` is reset by whoever reads it (metrics lines).
    """

    def __init__(self, interval: float = 0.05, clock: Callable[[], float] | None = None) -> None:
        self.interval = interval
        self.total = Histogram()
        self.window = Histogram()
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the ticker task."""
        self._task = asyncio.create_task(self._tick(), name="loop-lag")

    async def aclose(self) -> None:
        """Stop the ticker."""
        if self._task is not None:
            await stop_task(self._task)
            self._task = None

    def take_window(self) -> Histogram:
        """The lag since the last call; starts a new window."""
        window, self.window = self.window, Histogram()
        return window

    async def _tick(self) -> None:
        clock = self._clock or asyncio.get_running_loop().time
        while True:
            before = clock()
            await asyncio.sleep(self.interval)
            lag = max(0.0, clock() - before - self.interval)
            self.total.add(lag)
            self.window.add(lag)
