"""`ShardWorker`: the pipeline and a transport of its own inside a Ray actor.

A worker prepares the run's pipeline (the driver has already prepared the run directory,
so this loads what is there), builds a transport whose limiters lease their rate budget
from the cluster's coordinators, and runs the shards it is handed: every item of a shard
runs concurrently on the actor's event loop, and each outcome is streamed back to the
driver as soon as it exists (the driver writes it; a worker never touches the run's
files). Transport counters ride along with a shard's last outcome and at most once per
`stats_interval`, so the driver's progress and summary add up the whole cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncgen.cluster.lease import CoordinatorBudget
from asyncgen.config import RunConfig, resolve_api_key
from asyncgen.contract import Failure, Outcome, Reason, RunContext, WorkItem
from asyncgen.errors import BudgetExceededError, ClusterError, LLMError
from asyncgen.llm.usage import Charge

logger = logging.getLogger("asyncgen.cluster")
COALESCE = 0.005  # seconds an outcome waits for others to share its message

Streamed = tuple[list[tuple[int, Outcome]], dict[str, Any] | None, list[Charge]]
"""(the outcomes ready now by position in the shard, the worker's transport counters or
None, the charges billed since the last yield: the driver's ledger records them)."""
Ready = tuple[int, Outcome | BaseException]


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs; no secret (a provider key comes from the worker's environment)."""

    index: int
    config: dict[str, Any]
    run_dir: str
    base_url: str | None
    is_simulated: bool
    sim_api_key: str | None
    registry: Any
    lease_batch: int
    stats_interval: float
    pipeline: bytes | None = None


class ShardWorker:
    """Runs shards of the plan's items with its own event loop and transport."""

    def __init__(self, spec: WorkerSpec) -> None:
        self._spec = spec
        self._transport: Any = None
        self._pipeline: Any = None
        self._ctx: RunContext | None = None
        self._budgets: list[CoordinatorBudget] = []
        self._last_stats = 0.0
        self._charges: list[Charge] = []
        self.items = 0

    async def start(self) -> dict[str, Any]:
        """Build the transport and prepare the pipeline; where this worker runs."""
        from asyncgen.engine.registry import load_pipeline
        from asyncgen.llm import Transport

        spec = self._spec
        config = RunConfig.model_validate(spec.config)
        config.llm.max_cost = None  # the driver holds the run's budget over all workers
        config.llm.max_tokens = None
        api_key = spec.sim_api_key if spec.is_simulated else resolve_api_key(config.llm)
        self._transport = Transport.from_settings(
            config.llm, api_key=api_key, base_url=spec.base_url, budget_for=self._budget_for
        )
        await self._transport.__aenter__()
        self._transport.usage.listeners.append(self._charges.append)
        if spec.pipeline is not None:  # the driver's own, before its prepare (input paths etc.)
            import ray

            self._pipeline = ray.cloudpickle.loads(spec.pipeline)
        else:
            self._pipeline = load_pipeline(config.engine.pipeline, config)
        self._ctx = RunContext(
            config=config,
            client=self._transport,
            run_dir=Path(spec.run_dir),
            logger=logging.getLogger(f"asyncgen.{self._pipeline.name}"),
            is_simulated=spec.is_simulated,
        )
        await self._pipeline.prepare(self._ctx)
        return {"index": spec.index, "pid": os.getpid(), "node": _node_id()}

    def _budget_for(self, base_url: str, key_env: str, model: str) -> CoordinatorBudget:
        registry = self._spec.registry
        budget = CoordinatorBudget(
            lambda: registry.coordinator.remote(base_url, key_env, model),
            batch=self._spec.lease_batch,
        )
        self._budgets.append(budget)
        return budget

    async def run_shard(self, items: list[WorkItem[Any]]) -> AsyncIterator[Streamed]:
        """Run the items concurrently; yield outcomes as they are ready (a stream; those
        ready at the same moment go together, which saves the driver a fetch each)."""
        ready: asyncio.Queue[Ready] = asyncio.Queue()
        tasks = [
            asyncio.create_task(self._one(position, item, ready))
            for position, item in enumerate(items)
        ]
        try:
            left = len(items)
            while left:
                batch = [await ready.get()]
                if left > 1:
                    await asyncio.sleep(COALESCE)  # outcomes ready within it share a message
                while not ready.empty():
                    batch.append(ready.get_nowait())
                done: list[tuple[int, Outcome]] = []
                for position, outcome in batch:
                    if isinstance(outcome, BaseException):
                        raise outcome
                    done.append((position, outcome))
                left -= len(done)
                self.items += len(done)
                charges, self._charges[:] = list(self._charges), []
                yield done, self._stats_due(is_last=left == 0), charges
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task

    async def _one(self, position: int, item: WorkItem[Any], ready: asyncio.Queue[Ready]) -> None:
        try:
            ready.put_nowait((position, await self._outcome(item)))
        except ClusterError as exc:
            ready.put_nowait((position, exc))

    async def _outcome(self, item: WorkItem[Any]) -> Outcome:
        """The pipeline's outcome; an escaped error becomes a failure, as in the engine."""
        assert self._pipeline is not None and self._ctx is not None
        try:
            outcome: Outcome = await self._pipeline.run_item(item, self._ctx)
            return outcome
        except (ClusterError, BudgetExceededError):
            raise
        except LLMError as exc:
            return Failure(
                reason=Reason.LLM_ERROR,
                message=f"{type(exc).__name__}: {exc}",
                detail={"error": type(exc).__name__},
            )
        except Exception as exc:
            logger.exception("item %s raised; recorded as a failure", item.record_id)
            return Failure(
                reason=Reason.INTERNAL_ERROR,
                message=f"{type(exc).__name__}: {exc}",
                detail={"error": type(exc).__name__},
            )

    def _stats_due(self, *, is_last: bool) -> dict[str, Any] | None:
        now = time.monotonic()
        if not is_last and now - self._last_stats < self._spec.stats_interval:
            return None
        self._last_stats = now
        return self.stats()

    def stats(self) -> dict[str, Any]:
        """The transport's counters, with lease counts."""
        snapshot: dict[str, Any] = self._transport.stats.snapshot() if self._transport else {}
        snapshot["leases"] = sum(b.leases for b in self._budgets)
        snapshot["items"] = self.items
        return snapshot

    def pid(self) -> int:
        """This worker's process id (tests kill it)."""
        return os.getpid()

    async def aclose(self) -> dict[str, Any]:
        """Send the last rate reports and close the transport; the final counters."""
        for budget in self._budgets:
            await budget.aclose()
        stats = self.stats()
        if self._transport is not None:
            await self._transport.aclose()
        return stats


def _node_id() -> str:
    with contextlib.suppress(Exception):
        import ray

        return str(ray.get_runtime_context().get_node_id())
    return ""
