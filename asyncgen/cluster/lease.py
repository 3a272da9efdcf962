"""A worker limiter's `BudgetSource`: leases sends from the key's coordinator in batches.

At most one lease request per limiter is in flight: sends that start waiting meanwhile
go in the next one (up to `batch`), so the number of round trips to the coordinator
grows with the rate only until the batches fill. Outcome reports ride along with the
next lease; without one they go after `report_delay`, and a 429 goes at once (the
coordinator's limiter slows the whole cluster on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from asyncgen.cluster.coordinator import Report
from asyncgen.errors import ClusterError
from asyncgen.llm.headers import RateLimitInfo

logger = logging.getLogger("asyncgen.cluster")
REPORT_BACKLOG = 64  # reports sent at once when this many are waiting


@dataclass
class _Want:
    prompt: int
    completion: int
    urgent: bool
    future: asyncio.Future[int] = field(repr=False)


class CoordinatorBudget:
    """`BudgetSource` over a `RateCoordinator` actor (resolved lazily from the registry)."""

    def __init__(
        self,
        resolve: Callable[[], Any],
        *,
        batch: int = 16,
        report_delay: float = 0.05,
        linger: float = 0.002,
    ) -> None:
        self._resolve = resolve
        self._coordinator: Any = None
        self._batch = batch
        self._report_delay = report_delay
        self._linger = linger
        self._waiting: deque[_Want] = deque()
        self._reports: list[Report] = []
        self._pump: asyncio.Task[None] | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._broken: BaseException | None = None
        self.leases = 0
        self.granted = 0

    async def take(self, prompt_tokens: int, completion_tokens: int, *, urgent: bool) -> Hashable:
        """Wait for the coordinator's grant of one send; returns its claim."""
        if self._broken is not None:
            raise ClusterError(f"the rate coordinator is gone: {self._broken}")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        want = _Want(prompt_tokens, completion_tokens, urgent, future)
        if urgent:
            self._waiting.appendleft(want)
        else:
            self._waiting.append(want)
        self._start()
        return await future

    def settle(
        self,
        claim: Hashable,
        *,
        outcome: str,
        latency: float,
        used_tokens: int | None,
        info: RateLimitInfo | None,
        retry_after: float | None,
    ) -> None:
        """Queue the report; send it with the next lease, soon, or at once after a 429."""
        if not isinstance(claim, int):
            return
        self._reports.append((claim, outcome, latency, used_tokens, info, retry_after))
        if outcome == "rate_limited" or len(self._reports) >= REPORT_BACKLOG:
            self._start()
        elif self._flush is None and (self._pump is None or self._pump.done()):
            loop = asyncio.get_running_loop()
            self._flush = loop.call_later(self._report_delay, self._start)

    async def warm(self) -> None:
        """Resolve the coordinator and wait until its actor answers (its process is up)."""
        if self._coordinator is None:
            self._coordinator = await self._resolve()
        await self._coordinator.snapshot.remote()

    async def aclose(self) -> None:
        """Send the last reports; stop the pump."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._reports and self._broken is None:
            self._start()
        if self._pump is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._pump), timeout=2.0)

    def _start(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run(), name="rate-lease")

    async def _run(self) -> None:
        if self._waiting and self._linger > 0:
            await asyncio.sleep(self._linger)  # sends starting together share the lease
        while (self._waiting or self._reports) and self._broken is None:
            batch: list[_Want] = []
            while self._waiting and len(batch) < self._batch:
                want = self._waiting.popleft()
                if not want.future.done():  # a cancelled send no longer wants budget
                    batch.append(want)
            reports, self._reports = self._reports, []
            try:
                claims = await self._lease(batch, reports)
            except Exception as exc:  # the coordinator died: every waiting send fails
                self._broken = exc
                logger.error("rate coordinator lost: %s", exc)
                error = ClusterError(f"the rate coordinator is gone: {exc}")
                for want in [*batch, *self._waiting]:
                    if not want.future.done():
                        want.future.set_exception(error)
                self._waiting.clear()
                return
            for want, claim in zip(batch, claims, strict=True):
                if want.future.done():  # cancelled while leased: hand the send back
                    self._reports.append((claim, "cancelled", 0.0, None, None, None))
                else:
                    want.future.set_result(claim)

    async def _lease(self, batch: list[_Want], reports: list[Report]) -> list[int]:
        if self._coordinator is None:
            self._coordinator = await self._resolve()
        wants = [(w.prompt, w.completion, w.urgent) for w in batch]
        claims: list[int] = await self._coordinator.grant.remote(wants, reports)
        self.leases += 1
        self.granted += len(claims)
        return claims
