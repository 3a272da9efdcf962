"""Where a limiter's rate budget comes from when it is shared beyond this process.

A `RateLimiter` normally paces sends with its own RPM/TPM buckets. Given a
`BudgetSource`, it asks the source instead (a cluster coordinator holding one budget
per endpoint, key and model for many processes) and reports every outcome back, so the
source can refund unused tokens and learn from headers and 429s. The limiter still
keeps its local gates (concurrency window, global slots) and its own counters.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Protocol

from asyncgen.llm.headers import RateLimitInfo


class BudgetSource(Protocol):
    """A rate budget shared with other processes: take before a send, settle after it."""

    async def take(self, prompt_tokens: int, completion_tokens: int, *, urgent: bool) -> Hashable:
        """Wait until one request of this size may be sent; returns a claim for `settle`."""
        ...

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
        """Report how the send went (never blocks: the source batches its reports)."""
        ...


BudgetFactory = Callable[[str, str, str], "BudgetSource | None"]
"""(base_url, key variable, model) → the source for that limiter, or None for local buckets."""
