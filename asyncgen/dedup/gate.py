"""The uniqueness gate: exact hashes in-loop, embeddings + FAISS micro-batched off-loop.

Candidates reach the gate's owner task through a bounded anyio memory stream; `aclose`
closes it, and the owner decides what is left and ends (no end marker). The owner is a
task of its own, not one of a caller's task group: the gate is started and closed by
separate calls, which in a cluster run come from different tasks (an actor's methods).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asyncgen import offload
from asyncgen.config import RunConfig
from asyncgen.config.dedup import DedupSettings
from asyncgen.contract import DedupDecision
from asyncgen.dedup.decide import BatchResult, decide_batch, embed_into
from asyncgen.dedup.embedders import Embedder, effective_threshold, load_embedder
from asyncgen.dedup.hashes import normalize_text, sha256_text
from asyncgen.dedup.index import VectorIndex, set_faiss_threads
from asyncgen.dedup.stats import GateStats
from asyncgen.dedup.store import SavedState, load_state, save_state
from asyncgen.dedup.text import describe_text_mode
from asyncgen.errors import AsyncgenError, EmbeddingError

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    """A candidate waiting for its batch."""

    record_id: str
    text: str
    digest: str
    future: asyncio.Future[DedupDecision]


def text_digest(text: str) -> str:
    """The exact-duplicate key of a dedup text: SHA-256 of its whitespace/case-normalised form."""
    return sha256_text(normalize_text(text))


class SemanticGate:
    """Implements `UniquenessGate`: one owner task batches candidates into a worker thread."""

    def __init__(
        self,
        settings: DedupSettings,
        *,
        embedder: Embedder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._embedder = embedder
        self._clock = clock
        self._send: MemoryObjectSendStream[_Pending]  # opened by `start`
        self._receive: MemoryObjectReceiveStream[_Pending]
        self._arrived: anyio.Event
        self._task: asyncio.Task[None] | None = None
        self._index: VectorIndex | None = None
        self._hashes: list[str] = []
        self._by_digest: dict[str, str] = {}
        self._run_dir: Path | None = None
        self._inflight: list[_Pending] = []
        self._preload: asyncio.Task[Embedder] | None = None
        self._dirty = False
        self._closed = False
        self._last_save = 0.0
        self.threshold = settings.raw_threshold or settings.threshold
        self.stats = GateStats()

    @property
    def embedder(self) -> Embedder:
        """The embedder (available after `start`)."""
        if self._embedder is None:
            raise RuntimeError("gate not started")
        return self._embedder

    @property
    def size(self) -> int:
        """Records the index holds."""
        return len(self._index) if self._index is not None else 0

    def describe(self) -> dict[str, Any]:
        """Which embedder, threshold and text mode this run uses (saved as meta.json)."""
        return {
            "version": 1,
            **self.embedder.describe(),
            "threshold": self.threshold,
            "threshold_minilm_scale": self.settings.threshold,
            "raw_threshold": self.settings.raw_threshold,
            "text": describe_text_mode(self.settings),
            "approximate_after": self.settings.approximate_after,
        }

    def preload(self) -> None:
        """Begin loading the embedder and FAISS in a worker thread now; `start` awaits it.

        Called by `create_gate` when a loop is running, so the ~1 s of imports and model
        loading overlaps whatever the caller does before `start` (e.g. starting a simulator).
        """
        if self._embedder is not None or self._preload is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._preload = loop.create_task(offload.cpu(self._load_models))
        self._preload.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _load_models(self) -> Embedder:
        """Worker thread: import FAISS and load the embedder."""
        import faiss  # noqa: F401, TID251 - imported here so start() does not pay for it

        if self.settings.worker_process:
            from asyncgen.dedup.worker import ProcessEmbedder

            return ProcessEmbedder(self.settings)
        return load_embedder(self.settings)

    async def start(self, run_dir: Path, existing: list[tuple[str, str]]) -> None:
        """Load the saved index, keep only ids on disk, embed records saved after it.

        Args:
            run_dir: The run directory (state lives in `<run_dir>/dedup`).
            existing: (id, dedup text) of every record already on disk, in file order.

        Raises:
            EmbeddingError: the embedder cannot be loaded.
        """
        self._run_dir = Path(run_dir)
        if self._embedder is None:
            self.preload()
            if self._preload is not None:
                self._embedder = await self._preload
            else:
                self._embedder = await offload.cpu(self._load_models)
        self.threshold = effective_threshold(self.settings, self.embedder.name)
        await offload.cpu(self._restore, existing)
        self._last_save = self._clock()
        self._send, self._receive = anyio.create_memory_object_stream[_Pending](
            self.settings.batch_size * 8
        )
        self._arrived = anyio.Event()  # set by `check` and `aclose`: the owner looks again
        self._task = asyncio.create_task(self._run(), name="dedup-gate")
        log.info(
            "dedup: %s embedder, threshold %.3f, %d records indexed",
            self.embedder.name,
            self.threshold,
            self.size,
        )

    def _restore(self, existing: list[tuple[str, str]]) -> None:
        """Worker thread: rebuild index, hashes and digest map to match `existing` exactly."""
        from asyncgen.dedup.embedders import default_torch_threads

        set_faiss_threads(default_torch_threads(self.settings))
        assert self._run_dir is not None
        wanted = dict(existing)
        saved = load_state(
            self._run_dir,
            approximate_after=self.settings.approximate_after,
            hnsw_m=self.settings.hnsw_m,
        )
        if saved is not None and not self._compatible(saved):
            log.warning("dedup: saved index was made differently; re-embedding all records")
            saved = None
        index, hashes = self._kept(saved, wanted)
        have = set(index.ids)
        missing = [(rid, text) for rid, text in wanted.items() if rid not in have]
        embed_into(self.embedder, index, missing, self.settings.batch_size * 4)
        hashes += [text_digest(text) for _, text in missing]
        self._index, self._hashes = index, hashes
        self._by_digest = {}
        for digest, rid in zip(hashes, index.ids, strict=True):
            self._by_digest.setdefault(digest, rid)
        self.stats.rebuilt = len(missing)
        if missing or self.stats.dropped or (saved is None and len(index)):
            self._save()

    def _kept(
        self, saved: SavedState | None, wanted: dict[str, str]
    ) -> tuple[VectorIndex, list[str]]:
        """The saved index minus ids not on disk (or a new empty index)."""
        if saved is None:
            fresh = VectorIndex(
                self.embedder.dim,
                approximate_after=self.settings.approximate_after,
                hnsw_m=self.settings.hnsw_m,
            )
            return fresh, []
        rows = [row for row, rid in enumerate(saved.index.ids) if rid in wanted]
        self.stats.dropped = len(saved.index.ids) - len(rows)
        if self.stats.dropped:
            saved.index.keep(rows)
        return saved.index, [saved.hashes[row] for row in rows]

    def _compatible(self, saved: SavedState) -> bool:
        """Saved vectors are reusable only from the same embedder, model and text mode."""
        mine = self.describe()
        keys = ("embedder", "model", "dim", "text")
        return all(saved.meta.get(key) == mine.get(key) for key in keys)

    async def check(self, record_id: str, text: str) -> DedupDecision:
        """Decide whether a candidate repeats an earlier record; add it when it is new.

        Args:
            record_id: The candidate's record id.
            text: Its dedup text.

        Returns:
            The decision; a duplicate names the nearest earlier record and the score.
        """
        if self._task is None or self._closed:
            raise RuntimeError("dedup gate is not running")
        self.stats.checks += 1
        digest = text_digest(text)
        earlier = self._by_digest.get(digest)
        if earlier is not None:
            self.stats.exact_duplicates += 1
            return DedupDecision(True, earlier, 1.0)
        future: asyncio.Future[DedupDecision] = asyncio.get_running_loop().create_future()
        try:
            await self._send.send(_Pending(record_id, text, digest, future))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise RuntimeError("dedup gate is not running") from exc
        self._arrived.set()
        if self._closed and self._task is not None and self._task.done():
            self._fail_queued(RuntimeError("owner task ended"))
        self.stats.observe_queue(self._queued())
        return await future

    def _queued(self) -> int:
        """Candidates waiting for the owner task."""
        return self._send.statistics().current_buffer_used

    async def _run(self) -> None:
        """The owner task: gather a micro-batch, decide it off-loop, save on a cadence."""
        stopping = False
        try:
            while not stopping:
                batch, stopping = await self._gather()
                if batch:
                    await self._process(batch)
                if self._dirty and self._clock() - self._last_save >= self.settings.save_interval:
                    await self._save_off_loop()
        except BaseException as exc:  # never leave a waiting candidate hanging
            self._closed = True
            self._fail_queued(exc)
            raise

    def _fail_queued(self, exc: BaseException) -> None:
        """Fail every queued candidate with an EmbeddingError naming the cause."""
        error = EmbeddingError(f"dedup gate stopped: {exc!r}")
        waiting = list(self._inflight)
        while True:
            try:
                waiting.append(self._receive.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
                break
        for item in waiting:
            if not item.future.done():
                item.future.set_exception(error)

    async def _gather(self) -> tuple[list[_Pending], bool]:
        """Wait for one candidate; if the batch is not full, wait `batch_deadline` once; drain.

        One timer per batch rather than one per candidate keeps the loop's share small.
        """
        try:
            first = await self._first()
        except anyio.EndOfStream:  # `aclose` closed the stream and it is empty
            return [], True
        if first is None:
            return [], False
        batch: list[_Pending] = [first]
        limit = self.settings.batch_size
        if self._queued() < limit - 1 and self.settings.batch_deadline > 0:
            await anyio.sleep(self.settings.batch_deadline)
        while len(batch) < limit:
            try:
                batch.append(self._receive.receive_nowait())
            except anyio.WouldBlock:
                break
            except anyio.EndOfStream:
                return batch, True
        return batch, False

    async def _first(self) -> _Pending | None:
        """The next candidate, or None after `save_interval` without one.

        Never `receive()` under a timeout: anyio's memory stream loses an item handed to
        a receiver that is cancelled before it wakes. `check` sets `_arrived` instead.
        """
        with anyio.move_on_after(self.settings.save_interval):
            while True:
                try:
                    return self._receive.receive_nowait()
                except anyio.WouldBlock:
                    self._arrived = anyio.Event()
                    await self._arrived.wait()
        return None

    async def _process(self, batch: list[_Pending]) -> None:
        """Decide a batch in a worker thread and resolve each candidate's future."""
        assert self._index is not None
        self._inflight = batch
        ids, texts = [p.record_id for p in batch], [p.text for p in batch]
        try:
            result: BatchResult = await offload.cpu(
                decide_batch, self.embedder, self._index, ids, texts, self.threshold
            )
        except Exception as exc:  # the candidates must hear about it, not hang
            error = (
                exc if isinstance(exc, AsyncgenError) else EmbeddingError(f"dedup failed: {exc}")
            )
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(error)
            return
        for row in result.accepted:
            self._hashes.append(batch[row].digest)
            self._by_digest.setdefault(batch[row].digest, batch[row].record_id)
        self._dirty = self._dirty or bool(result.accepted)
        self.stats.observe_batch(result, self.size, self._index.kind)
        for pending, decision in zip(batch, result.decisions, strict=True):
            if not pending.future.done():
                pending.future.set_result(decision)

    def _save(self) -> None:
        """Worker thread (or owner task's thread): persist index, ids, hashes, meta."""
        if self._index is None or self._run_dir is None:
            return
        started = time.perf_counter()
        save_state(self._run_dir, self._index, list(self._hashes), self.describe())
        self.stats.saves += 1
        self.stats.save_seconds = time.perf_counter() - started

    async def _save_off_loop(self) -> None:
        """Save in a worker thread; only the owner task calls this, so nothing mutates meanwhile."""
        self._dirty = False
        self._last_save = self._clock()
        await offload.to_thread(self._save)

    async def aclose(self) -> None:
        """Finish queued candidates, stop the owner task and save (also when cancelled)."""
        if self._closed:
            return
        self._closed = True
        if self._preload is not None and not self._preload.done():
            self._preload.cancel()  # never started: nothing to save
        task, self._task = self._task, None
        if task is None:
            await self._close_preloaded()
            return
        try:
            if not task.done():
                self._send.close()  # the owner decides what is queued, then ends
                self._arrived.set()
                await task
        finally:
            with anyio.CancelScope(shield=True):
                if not task.done():
                    task.cancel()
                self._send.close()
                self._receive.close()
                await offload.to_thread(self._save)
                close = getattr(self._embedder, "close", None)
                if close is not None:
                    await offload.to_thread(close)
            log.info("dedup: %s", _describe_stats(self.stats.snapshot()))

    async def _close_preloaded(self) -> None:
        """Never started: stop an embedder `preload` finished loading (a worker process),
        in a worker thread, rather than leave it to garbage collection on the loop."""
        preload, self._preload = self._preload, None
        embedder = self._embedder
        if embedder is None and preload is not None and preload.done():
            if not preload.cancelled() and preload.exception() is None:
                embedder = preload.result()
        self._embedder = None
        close = getattr(embedder, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):
                await offload.to_thread(close)


def _describe_stats(stats: dict[str, Any]) -> str:
    """One log line of the gate's figures."""
    return (
        f"{stats['checks']} checks, {stats['duplicates']} duplicates "
        f"({stats['exact_duplicates']} exact), {stats['batches']} batches "
        f"(mean {stats['mean_batch']}), encode {stats['encode_seconds']:.2f} s, "
        f"search+add {stats['search_seconds']:.2f} s, {stats['saves']} saves, "
        f"max queue {stats['max_queue']}, index {stats['index_size']} ({stats['index_kind']})"
    )


def create_gate(config: RunConfig, run_dir: Path) -> SemanticGate | None:
    """The run's uniqueness gate, or None when dedup is off for this run's pipeline.

    Args:
        config: The run configuration (`dedup`, with the pipeline's overrides).
        run_dir: The run directory; the gate's state lives in `<run_dir>/dedup`.

    Returns:
        A gate to `start`, `check` and `aclose`. Called inside a running loop, it starts
        loading the embedder and FAISS in a worker thread at once (`start` awaits that).
    """
    del run_dir  # the engine passes it again to start(); kept for the agreed signature
    settings = settings_for(config)
    if not settings.enabled:
        return None
    gate = SemanticGate(settings)
    gate.preload()
    return gate


def settings_for(config: RunConfig) -> DedupSettings:
    """The run's dedup settings: `dedup` with `dedup.pipelines[<engine.pipeline>]` applied."""
    return config.dedup.for_pipeline(config.engine.pipeline)
