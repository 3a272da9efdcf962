"""The cluster as the driver's engine sees it: a pipeline and a client like a local run's.

`RemotePipeline` plans, restores, indexes and exports exactly as the wrapped pipeline
(the plan and the run directory stay on the driver) but runs each item through the
dispatcher on the workers. `ClusterClient` is the driver's own transport (the pipeline's
`prepare` calls go through it) with counters that add up every worker's, and the run's
USD/token budget checked against the sum.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from asyncgen.cluster.dispatch import ShardDispatcher, WorkerSlot
from asyncgen.contract import (
    Outcome,
    Pipeline,
    PipelineTraits,
    Record,
    RunContext,
    StageCounts,
    WorkItem,
)
from asyncgen.jsontypes import JsonObject

if TYPE_CHECKING:
    import random

    from asyncgen.config.llm import PoolEntry, SamplingLists
    from asyncgen.llm.stats import StatsSnapshot
    from asyncgen.llm.types import (
        ChatRequest,
        ChatResult,
        LedgerCharges,
        LedgerFlush,
        LiveCount,
        ModelHandle,
        Progress,
        RunClient,
        UsageHook,
    )

SUMMED = (
    "requests",
    "attempts",
    "successes",
    "rate_limited",
    "in_flight",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "requests_per_s",
    "concurrency_cap",
    "leases",
)
COUNTED = ("failures", "retries", "latency_histogram", "model_mix")


class RemotePipeline:
    """The wrapped pipeline, with `run_item` running on the cluster's workers."""

    def __init__(
        self,
        inner: Pipeline,
        start_workers: Callable[[RunContext], Awaitable[ShardDispatcher]],
        stop_workers: Callable[[], Awaitable[None]],
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.records_file = inner.records_file
        self._start_workers = start_workers
        self._stop_workers = stop_workers
        self._dispatcher: ShardDispatcher | None = None

    def __getattr__(self, name: str) -> Any:
        """Anything else a caller reads of the pipeline is the inner's."""
        return getattr(self.inner, name)

    def traits(self) -> PipelineTraits:
        """The inner pipeline's (plan size, supplements, index key, …)."""
        return self.inner.traits()

    async def prepare(self, ctx: RunContext) -> None:
        """Prepare the run here (stage files, data), then start the workers on it."""
        await self.inner.prepare(ctx)
        self._dispatcher = await self._start_workers(ctx)

    def plan_fingerprint(self) -> dict[str, Any]:
        """The inner pipeline's: a cluster run resumes a local one and the reverse."""
        return self.inner.plan_fingerprint()

    def plan_item(self, index: int) -> WorkItem[Any]:
        """The inner pipeline's plan."""
        return self.inner.plan_item(index)

    async def run_item(self, item: WorkItem[Any], ctx: RunContext) -> Outcome:
        """Run the item on some worker."""
        assert self._dispatcher is not None, "prepare() starts the workers"
        return await self._dispatcher.run_item(item)

    def restore(self, record: dict[str, Any]) -> None:
        """The driver's pipeline re-learns run state from the records on disk."""
        self.inner.restore(record)

    def index_entry(self, record: Record) -> dict[str, Any]:
        """The inner pipeline's index line."""
        return self.inner.index_entry(record)

    def dedup_text(self, record: Record) -> str | None:
        """The inner pipeline's dedup text (checked on the driver's side of the gate)."""
        return self.inner.dedup_text(record)

    def stage_counts(self) -> StageCounts:
        """The inner pipeline's stages (they run here, in `prepare`)."""
        return self.inner.stage_counts()

    def record_dropped(self, record: JsonObject) -> None:
        """The driver's pipeline steers the plan, so it hears of every dropped record."""
        self.inner.record_dropped(record)

    def summary_figures(self) -> JsonObject | None:
        """The inner pipeline's figures."""
        return self.inner.summary_figures()

    async def aclose(self) -> None:
        """Stop the workers, then let the inner pipeline write its files (exports)."""
        try:
            await self._stop_workers()
        finally:
            await self.inner.aclose()


class _MergedStats:
    def __init__(self, client: ClusterClient) -> None:
        self._client = client

    def snapshot(self) -> StatsSnapshot:
        return cast("StatsSnapshot", self._client.snapshot())  # the same keys, added up


class ClusterClient:
    """The driver's transport, counting the whole cluster's traffic."""

    def __init__(
        self,
        local: RunClient,
        workers: Callable[[], list[WorkerSlot]],
        *,
        max_cost: float | None,
        max_tokens: int | None,
    ) -> None:
        self.local = local
        self._workers = workers
        self._max_cost = max_cost
        self._max_tokens = max_tokens
        self.stats = _MergedStats(self)

    async def chat(self, request: ChatRequest, handle: ModelHandle | None = None) -> ChatResult:
        """The driver's own calls (the pipeline's `prepare`) go through its transport."""
        return await self.local.chat(request, handle)

    @property
    def usage(self) -> UsageHook:
        """The driver's usage accounting (the ledger hooks in here)."""
        return self.local.usage

    def attach_run(self, live: LiveCount, progress: Progress | None = None) -> None:
        """The driver's transport hears the run's live count."""
        self.local.attach_run(live, progress)

    def link_ledger(self, charges: LedgerCharges, flush: LedgerFlush | None = None) -> None:
        """The driver's transport gets the run's ledger."""
        self.local.link_ledger(charges, flush)

    async def settle(self) -> None:
        """The driver's transport finishes its charges under way."""
        await self.local.settle()

    def lock_model(
        self,
        rng: random.Random,
        pool: list[PoolEntry] | None = None,
        sampling: SamplingLists | None = None,
        *,
        draw_sampling: bool = True,
    ) -> ModelHandle | None:
        """The driver's model pool."""
        return self.local.lock_model(rng, pool, sampling, draw_sampling=draw_sampling)

    def snapshot(self) -> dict[str, Any]:
        """The driver's counters plus each worker's latest."""
        workers = [w for w in self._workers() if w.stats]
        parts = [self.local.stats.snapshot(), *(w.stats for w in workers)]
        return merge_snapshots(parts, ["driver", *(f"worker {w.index}" for w in workers)])

    @property
    def budget_exhausted(self) -> bool:
        """True once the cluster as a whole spent `llm.max_cost` or `llm.max_tokens`."""
        if self._max_cost is None and self._max_tokens is None:
            return False  # asked before every item: no merge when there is no budget
        merged = self.snapshot()
        if self._max_cost is not None and merged.get("cost_usd", 0.0) >= self._max_cost:
            return True
        tokens = int(merged.get("tokens_in", 0)) + int(merged.get("tokens_out", 0))
        return self._max_tokens is not None and tokens >= self._max_tokens

    def projected_cost(self, done: int, target: int) -> float:
        """USD for `target` items at the cluster's average cost per finished item."""
        cost = float(self.snapshot().get("cost_usd", 0.0))
        return cost if done <= 0 else cost * max(target, done) / done


def merge_snapshots(
    parts: Sequence[Mapping[str, Any]], labels: list[str] | None = None
) -> dict[str, Any]:
    """Transport snapshots added up: counts summed, counters merged, limits the tightest.

    Latency quantiles cannot be added; the merged p50/p95 are the largest of the parts
    (a bound, not the cluster's quantile; the merged histogram has the distribution).
    """
    merged: dict[str, Any] = dict.fromkeys(SUMMED, 0)
    counters: dict[str, Counter[str]] = {key: Counter() for key in COUNTED}
    limiters: dict[str, Any] = {}
    for i, part in enumerate(parts):
        for key in SUMMED:
            merged[key] += part.get(key) or 0
        for key in COUNTED:
            counters[key].update(part.get(key) or {})
        for key in ("latency_p50", "latency_p95"):
            if part.get(key) is not None:
                merged[key] = max(merged.get(key) or 0.0, part[key])
        for key in ("rpm_limit", "tpm_limit"):
            if part.get(key) is not None:
                merged[key] = min(merged.get(key) or part[key], part[key])
        label = labels[i] if labels else f"part {i}"
        for name, value in (part.get("limiters") or {}).items():
            limiters[f"{label}: {name}"] = value
    merged.update({key: dict(value) for key, value in counters.items()})
    merged["cost_usd"] = round(float(merged["cost_usd"]), 6)
    merged["limiters"] = limiters
    merged["workers"] = len(parts) - 1
    return merged
