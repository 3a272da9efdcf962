"""`ShardDispatcher`: the driver's side of the workers, shards out and outcomes back.

The engine asks for one item at a time (`run_item`); the dispatcher queues them and each
live worker's pump takes a shard of up to `shard_size` queued items whenever the worker
has room. `capacity` (the engine's `max_workers`) is the whole cluster's: each live
worker may hold its share of it, so the items spread over the workers, and when one is
lost the others' shares grow.
Outcomes stream back per item. When a worker dies mid-shard (its process killed, its
node lost), the items of that shard whose outcome had not arrived go back to the front
of the queue and run on another worker; an item's outcome is delivered once, so none is
written twice. When no worker is left, the waiting items fail with `ClusterError`, which
stops the run (the engine keeps the account; a rerun resumes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asyncgen.contract import Outcome, WorkItem
from asyncgen.errors import ClusterError

logger = logging.getLogger("asyncgen.cluster")
LINGER = 0.005  # seconds a pump waits for a shard to fill once its worker has room


@dataclass
class _Job:
    item: WorkItem[Any]
    future: asyncio.Future[Outcome] = field(repr=False)


@dataclass
class WorkerSlot:
    """One worker actor as the dispatcher sees it."""

    index: int
    actor: Any
    pid: int = 0
    alive: bool = True
    in_flight: int = 0
    shards: int = 0
    done: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    messages: int = 0


class ShardDispatcher:
    """Hands items to worker actors in shards; redoes a dead worker's unfinished items."""

    def __init__(
        self,
        workers: list[WorkerSlot],
        *,
        capacity: int,
        shard_size: int,
        is_lost: Callable[[BaseException], bool],
        on_charges: Callable[[list[Any]], None] = lambda charges: None,
    ) -> None:
        self.workers = workers
        self._capacity = capacity
        self._shard_size = max(1, shard_size)
        self._is_lost = is_lost
        self._on_charges = on_charges
        self._queue: deque[_Job] = deque()
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pumps: list[asyncio.Task[None]] = []
        self.redone = 0
        self.lost: list[int] = []

    def start(self) -> None:
        """Start one pump per worker."""
        self._pumps = [
            asyncio.create_task(self._pump(w), name=f"pump-{w.index}") for w in self.workers
        ]

    async def run_item(self, item: WorkItem[Any]) -> Outcome:
        """Queue an item; its outcome once some worker has run it."""
        if not any(w.alive for w in self.workers):
            raise ClusterError("every Ray worker of this run is gone")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(item, future))
        self._changed.set()
        return await future

    async def aclose(self) -> None:
        """Stop the pumps and the shard streams (items still out are the engine's to owe)."""
        for task in [*self._pumps, *self._tasks]:
            task.cancel()
        for task in [*self._pumps, *self._tasks]:
            with contextlib.suppress(BaseException):
                await task

    def _share(self) -> int:
        """Items in flight one worker may hold: its share of the cluster's capacity."""
        alive = sum(w.alive for w in self.workers) or 1
        return max(1, -(-self._capacity // alive))

    async def _pump(self, worker: WorkerSlot) -> None:
        while worker.alive:
            room = self._share() - worker.in_flight
            if room <= 0 or not self._queue:
                self._changed.clear()
                await self._changed.wait()
                continue
            want = min(self._share(), self._shard_size)
            if room < want // 2 and worker.in_flight:
                self._changed.clear()  # wait for half a shard of room: fewer, fuller shards
                await self._changed.wait()
                continue
            if len(self._queue) < min(room, self._shard_size):
                await asyncio.sleep(LINGER)  # let the shard fill while results stream in
            jobs = self._take(min(self._share() - worker.in_flight, self._shard_size))
            if not jobs:
                continue
            worker.in_flight += len(jobs)
            worker.shards += 1
            task = asyncio.create_task(self._shard(worker, jobs), name=f"shard-{worker.index}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self, count: int) -> list[_Job]:
        jobs: list[_Job] = []
        while self._queue and len(jobs) < count:
            job = self._queue.popleft()
            if not job.future.done():  # the engine gave up on it (a stop): not run
                jobs.append(job)
        return jobs

    async def _shard(self, worker: WorkerSlot, jobs: list[_Job]) -> None:
        """Stream one shard's outcomes back; on the worker's death, requeue what is left."""
        left = dict(enumerate(jobs))
        try:
            stream = worker.actor.run_shard.options(num_returns="streaming").remote(
                [job.item for job in jobs]
            )
            async for ref in stream:
                outcomes, stats, charges = await ref
                worker.messages += 1
                if charges:
                    self._on_charges(charges)
                if stats is not None:
                    worker.stats = stats
                for position, outcome in outcomes:
                    job = left.pop(position)
                    worker.in_flight -= 1
                    worker.done += 1
                    if not job.future.done():
                        job.future.set_result(outcome)
                self._changed.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self._is_lost(exc):
                self._lose(worker, exc)
            else:
                error = ClusterError(f"worker {worker.index} failed a shard: {exc}")
                for job in left.values():
                    if not job.future.done():
                        job.future.set_exception(error)
                left.clear()
        finally:
            worker.in_flight -= len(left)
            unfinished = [job for job in left.values() if not job.future.done()]
            if unfinished and not any(w.alive for w in self.workers):
                error = ClusterError("every Ray worker of this run is gone; rerun to resume")
                for job in unfinished:
                    job.future.set_exception(error)
            elif unfinished:
                self.redone += len(unfinished)
                self._queue.extendleft(reversed(unfinished))
                logger.warning(
                    "worker %d: %d unfinished items go to other workers",
                    worker.index,
                    len(unfinished),
                )
            self._changed.set()

    def _lose(self, worker: WorkerSlot, exc: BaseException) -> None:
        if not worker.alive:
            return
        worker.alive = False
        self.lost.append(worker.index)
        logger.error("worker %d (pid %d) is gone: %s", worker.index, worker.pid, type(exc).__name__)
        self._changed.set()  # the others' shares grew
        if not any(w.alive for w in self.workers):
            error = ClusterError("every Ray worker of this run is gone; rerun to resume")
            while self._queue:
                job = self._queue.popleft()
                if not job.future.done():
                    job.future.set_exception(error)
