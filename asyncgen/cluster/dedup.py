"""One uniqueness index for the cluster: the run's `SemanticGate` inside an actor.

Every record of every worker passes the driver's engine, which asks this one service:
the same exact-hash set, embedder, calibrated threshold and FAISS index as a local run,
deciding in arrival order, so the dataset is unique across shards exactly as on one
machine. The actor runs on the driver's node (its state lives in `<run>/dedup/`, and a
resume reads it from there); its embedder runs in its own child process as locally.

Sharding when the index outgrows one process (docs/scale.md): hash-partition the exact
set by digest, and split the vector index into P shards that each search every
candidate (a candidate is new only if no shard holds a neighbour above the bar) while
only the shard that owns it adds it; the decision stays the same, the memory divides.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

from asyncgen.config import RunConfig
from asyncgen.contract import DedupDecision
from asyncgen.errors import ClusterError


class DedupService:
    """The run's uniqueness gate, held by an actor so all shards share it."""

    def __init__(self, config: dict[str, Any], run_dir: str) -> None:
        self._config = RunConfig.model_validate(config)
        self._run_dir = Path(run_dir)
        self._gate: Any = None
        self.checks = 0
        self.duplicates = 0

    async def start(self, existing: list[tuple[str, str]]) -> bool:
        """Load or rebuild the index from the records on disk; False when dedup is off."""
        from asyncgen.dedup import create_gate

        self._gate = create_gate(self._config, self._run_dir)
        if self._gate is None:
            return False
        await self._gate.start(self._run_dir, existing)
        return True

    async def check(self, record_id: str, text: str) -> DedupDecision:
        """Check-and-add, as `SemanticGate.check`."""
        self.checks += 1
        decision: DedupDecision = await self._gate.check(record_id, text)
        self.duplicates += decision.is_duplicate
        return decision

    async def check_many(self, batch: list[tuple[str, str]]) -> list[DedupDecision]:
        """Several candidates in their order (the gate batches their encoding)."""
        return list(await asyncio.gather(*(self.check(i, text) for i, text in batch)))

    async def aclose(self) -> None:
        """Save the index into the run directory and stop the embedder."""
        if self._gate is not None:
            gate, self._gate = self._gate, None
            await gate.aclose()

    def snapshot(self) -> dict[str, int]:
        """Checks and duplicates so far."""
        return {"checks": self.checks, "duplicates": self.duplicates}


class RemoteGate:
    """`UniquenessGate` for the driver's engine, answered by the `DedupService` actor.

    Candidates that arrive while a request is out go together in the next one (at most
    `batch`), in arrival order: one round trip per batch instead of one per record.
    """

    def __init__(self, service: Any, *, batch: int = 64) -> None:
        self._service = service
        self._batch = batch
        self._enabled = True
        self._waiting: list[tuple[str, str, asyncio.Future[DedupDecision]]] = []
        self._pump: asyncio.Task[None] | None = None

    async def start(self, run_dir: Path, existing: list[tuple[str, str]]) -> None:
        """Start the service's gate over the records already on disk."""
        self._enabled = bool(await self._service.start.remote(existing))

    async def check(self, record_id: str, text: str) -> DedupDecision:
        """One candidate, decided by the cluster's one index."""
        if not self._enabled:
            return DedupDecision(is_duplicate=False)
        future: asyncio.Future[DedupDecision] = asyncio.get_running_loop().create_future()
        self._waiting.append((record_id, text, future))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._send(), name="dedup-batches")
        return await future

    async def _send(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._batch], self._waiting[self._batch :]
            try:
                decisions = await self._service.check_many.remote([(i, t) for i, t, _ in batch])
            except Exception as exc:  # the actor died: the engine stops the run on this error
                error = ClusterError(f"the dedup service is gone: {type(exc).__name__}")
                for _, _, future in [*batch, *self._waiting]:
                    if not future.done():
                        future.set_exception(error)
                self._waiting = []
                return
            for (_, _, future), decision in zip(batch, decisions, strict=True):
                if not future.done():
                    future.set_result(decision)

    async def aclose(self) -> None:
        """Persist the index (in the run directory) and stop the service's gate."""
        if self._pump is not None:
            with contextlib.suppress(Exception):
                await self._pump
        await self._service.aclose.remote()
