"""Batch mode: every waiting conversation's next request goes into one round's batch.

`BatchClient` has the transport's `chat(request, handle)`, so pipelines run unchanged:
each call parks its request and awaits a future. A round is flushed when every live
conversation is waiting (the engine tells how many are live, `attach_run`), when the
requests or bytes reach the batch caps, after `idle_flush_seconds` without a new request
while no engine is attached (preparation stages), or after `max_gather_seconds`.

Each request's input line is written to disk as it arrives (`batch_round`), into the
part (one Batch API batch) of its model; a part is closed at the provider's requests and
bytes per batch and at the enqueued-token limit per model: a part waits until the
model's queue has room, so a round larger than the limit runs as consecutive batches.
Each part: fsync the input file → record → upload (streamed from disk) → record the file
id → create (metadata: run id, round, part) → record the batch id → poll with backoff
(never sleeping past the expected end of the round) → download the output and error
files (streamed to disk) → record → read them line by line, resolving each waiting
request and charging each answer (the ledger line names the part, so a resume that
finds a part's charges in the ledger does not charge them again) → record "charged".

With `--max-cost` / `--max-tokens`, each request reserves its projected cost at batch
prices when it joins a round; one that would pass the budget is refused at once
(`BudgetExceededError`), so a round is never submitted that the budget cannot pay.

Answers are keyed by a digest of the request body. On resume, batches created by the
killed session are polled again; their answers, and those of finished batches, serve the
restarted conversations' identical requests, so nothing is submitted or paid twice.

Expired, cancelled and transiently failed requests (5xx, bad bodies) go into a later
round, up to `llm.batch.max_retries`; 4xx answers fail at once with the provider's
message. With a deadline, when what remains cannot finish in batch rounds at the
observed round time, in-flight batches are cancelled and everything left goes online
through the transport (its limiter and retries).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from asyncgen import heap, offload
from asyncgen.config.batch import parse_deadline
from asyncgen.config.llm import LLMSettings
from asyncgen.errors import LLMError, LLMStatusError, RequestInfo
from asyncgen.llm import wire
from asyncgen.llm.batch_api import STATES, TERMINAL, BatchAPI, provider_error
from asyncgen.llm.batch_budget import RoundBudget
from asyncgen.llm.batch_costs import BatchCosts
from asyncgen.llm.batch_earlier import EarlierWork
from asyncgen.llm.batch_gc import (
    collect_while_waiting,
    hold_full_collections,
    release_full_collections,
)
from asyncgen.llm.batch_journal import (
    BatchJournal,
    PartState,
    input_ids,
    iter_lines,
    iter_spans,
    read_line_at,
)
from asyncgen.llm.batch_parts import (
    BatchRequestError,
    Part,
    Pending,
    billable,
    kind_of,
)
from asyncgen.llm.batch_round import Caps, PartFile, RoundFiles
from asyncgen.llm.retry import RetryPolicy, failure_cause, should_retry
from asyncgen.llm.stats import StatsSnapshot
from asyncgen.llm.transport import Transport
from asyncgen.llm.types import (
    ChatRequest,
    ChatResult,
    LedgerCharges,
    LedgerFlush,
    LiveCount,
    ModelHandle,
    Progress,
)
from asyncgen.tokens import count_message_tokens

logger = logging.getLogger("asyncgen.llm.batch")
ROUND_TIMES_KEPT = 5  # the round time (and so the ETA and deadline) is the mean of the last five

MIN_POLL = 0.05  # the shortest wait between polls when waking at a round's expected end


class BatchClient:
    """The run's `ChatClient` in batch mode, in front of the online transport."""

    def __init__(
        self,
        transport: Transport,
        settings: LLMSettings,
        api: BatchAPI,
        run_dir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.settings = settings
        self.config = settings.batch
        self.api = api
        self.journal = BatchJournal(run_dir)
        self._clock = clock
        self._wall = wall
        self.deadline = (
            parse_deadline(self.config.deadline).timestamp() if self.config.deadline else None
        )
        self.costs = BatchCosts(settings, transport.usage.listeners)
        self.usage = self.costs.batch  # the engine's ledger hook reads `client.usage`
        self.usage_online_prices = self.costs.at_online_prices
        self.policy = RetryPolicy.from_settings(settings.retry)
        self.stats = BatchStats(self)
        self.online = False
        self.online_reason: str | None = None
        self.rounds = 0
        self.batches_created = 0
        self.resubmitted = 0
        self.from_earlier = 0
        self.online_requests = 0
        self.round_times: deque[float] = deque(maxlen=ROUND_TIMES_KEPT)
        self._next_round = 0
        self._default = ModelHandle(provider=settings.provider, model=settings.model)
        self._gather: list[Pending] = []
        self._round: RoundFiles | None = None
        self._last_arrival = 0.0
        self._waiting = 0
        self._wake = asyncio.Event()
        self._earlier = EarlierWork()
        self._parts: dict[str, Part] = {}  # in flight only: ended ones fold into _ended
        self._ended: dict[str, dict[str, int]] = {}  # status → batches, requests
        self._enqueued: Counter[str] = Counter()
        self._room = asyncio.Condition()
        self._learned_limit: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._records: set[asyncio.Task[None]] = set()
        self._resolving = 0  # parts whose output is being read
        self._live: LiveCount | None = None
        self._progress: Progress | None = None
        self._started = False
        self._uncharged: list[tuple[PartState, list[dict[str, Any]]]] = []
        self.ledger_charges: LedgerCharges | None = None  # the run's ledger: charges per ref
        self.ledger_flush: LedgerFlush | None = None  # and its held lines written now
        self._charging = True  # False once the run's ledger is closing (`settle`)
        self.budget = RoundBudget(settings, self.usage, transport.usage)
        self._gc_held = False  # full collections wait for the batches (`batch_gc`)

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Read the journal: poll batches a killed session created, keep finished answers."""
        if self._started:
            return
        self._started = True
        heap.pin_mmap_threshold()  # rounds free 1 MiB chunks: keep them out of the heap
        heap.limit_arenas()  # worker threads parse answers that outlive them
        self._hold_collections(True)
        parts = await offload.to_thread(self.journal.open)
        for state in parts:
            self._next_round = max(self._next_round, state.round + 1)
            await self._restore(state)
        self._spawn(self._flusher(), "batch-flusher")

    async def aclose(self) -> None:
        """Stop polling and gathering; batches in flight stay recorded for a resume."""
        self._hold_collections(False)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self._records:  # a part being charged is finished, never cut in the middle
            await asyncio.gather(*self._records, return_exceptions=True)
        gathered, self._round = self._round, None
        if gathered is not None:  # a round never submitted: nothing was paid, drop its files
            await gathered.discard()
        await self.api.aclose()

    def attach_run(self, live: LiveCount, progress: Progress | None = None) -> None:
        """The engine's hook: how many conversations are live, and (done, target)."""
        self._live = live
        self._progress = progress
        self._charge_earlier()
        self._wake.set()

    def link_ledger(self, charges: LedgerCharges, flush: LedgerFlush | None = None) -> None:
        """The run's ledger: how many answers of each part earlier sessions charged, and
        how to write its held lines before a part is recorded charged."""
        self.ledger_charges = charges
        self.ledger_flush = flush
        self._charging = True

    async def settle(self) -> None:
        """Before the run's ledger closes: parts being charged finish, and a part downloaded
        from now on is left uncharged in the journal, as a kill would leave it, so the
        resumed run charges it with its ledger listening."""
        self._charging = False
        if self._records:
            await asyncio.gather(*self._records, return_exceptions=True)

    # -- what the engine and pipelines call ------------------------------------------

    def lock_model(self, *args: Any, **kwargs: Any) -> ModelHandle:
        """The transport's model locking (the pool is the same in both modes)."""
        return self.transport.lock_model(*args, **kwargs)

    @property
    def cost_usd(self) -> float:
        """Everything spent this session: batch answers plus online ones."""
        return self.usage.cost_usd + self.transport.usage.cost_usd

    @property
    def budget_exhausted(self) -> bool:
        """`llm.max_cost` / `llm.max_tokens` over batch and online spending together."""
        return self.budget.exhausted

    def projected_cost(self, done: int, target: int) -> float:
        """USD for `target` items at the average cost of the `done` ones so far."""
        return self.cost_usd * max(target, done) / done if done > 0 else self.cost_usd

    async def chat(self, request: ChatRequest, handle: ModelHandle | None = None) -> ChatResult:
        """Park the request in the current round and wait for its answer.

        Raises:
            LLMError: the provider refused the request (4xx, with its message), or it
                failed more than `llm.batch.max_retries` rounds.
        """
        handle = handle or self._default
        if self.online or handle.base_url or request.stream:
            return await self._online_call(request, handle)
        if not self._started:
            await self.start()
        payload = self._payload(request, handle)
        loop = asyncio.get_running_loop()
        pending = Pending(
            request=request,
            handle=handle,
            digest=hashlib.blake2b(payload, digest_size=8).hexdigest(),
            size=len(payload),
            tokens=len(payload) // 4,  # counted (off the loop) only when a queue limit applies
            future=loop.create_future(),
            started=self._clock(),
        )
        if self._token_limit() is not None:
            pending.tokens = await offload.cpu(count_message_tokens, request.messages)
            pending.counted = True
        self._waiting += 1
        try:
            if not await self._answer_from_earlier(pending):
                pending.reserved = self.budget.admit(
                    handle.model, request.kind, pending.size, request.max_tokens
                )
                self._enter(pending, payload)
            del payload  # in the part's input file now
            return await pending.future
        finally:
            if not pending.settled:  # cancelled while waiting (or refused by the budget)
                pending.settled = True
                self._waiting -= 1
                self._unreserve(pending)

    @staticmethod
    def _payload(request: ChatRequest, handle: ModelHandle) -> bytes:
        """The JSON body the online call would send (the batch line's `body`)."""
        unstreamed = replace(request, stream=False) if request.stream else request
        return wire.encode(wire.build_body(unstreamed, handle))

    def _unreserve(self, pending: Pending) -> None:
        if pending.reserved is not None:
            self.budget.release(pending.reserved)
            pending.reserved = None

    # -- requests waiting ------------------------------------------------------------

    def _enter(self, pending: Pending, payload: bytes) -> None:
        """Attach to a resumed batch holding the same request, else join the round."""
        slot = self._earlier.take_slot(pending.digest)
        if slot is not None:
            part, custom_id = slot
            part.waiters[custom_id] = pending
            return
        if self.online:
            self._spawn(self._online(pending), "batch-online")
            return
        self._join_round(pending, payload)

    def _join_round(self, pending: Pending, payload: bytes) -> None:
        """Write the request's line into the round being gathered (opened on demand)."""
        if self._round is None:
            self._round = RoundFiles(self.journal.parts_dir, self._next_round)
            self._round.started_at = self._wall()
            self._next_round += 1
        limit = self._token_limit()
        if limit is not None and not pending.counted:  # a limit learned since it was sent
            pending.tokens = count_message_tokens(pending.request.messages)
            pending.counted = True
        caps = Caps(self.config.max_requests, self.config.max_bytes, limit)
        self._round.add(pending, payload, caps)
        self._gather.append(pending)
        self._last_arrival = self._clock()
        self._wake.set()

    async def _answer_from_earlier(self, pending: Pending) -> bool:
        """Answer from a batch a previous session already paid for."""
        while (kept := self._earlier.take_answer(pending.digest)) is not None:
            try:
                line = (
                    kept if isinstance(kept, dict) else await offload.to_thread(read_line_at, *kept)
                )
                result = self._result(pending, line["response"]["body"])
            except (LLMError, KeyError, TypeError):
                continue
            self.from_earlier += 1
            self._settle(pending, result)
            return True
        return False

    def _settle(self, pending: Pending, outcome: ChatResult | BaseException) -> None:
        """Resolve a waiter; it stops counting as waiting at once (not when it resumes)."""
        if pending.settled:
            return
        pending.settled = True
        self._waiting -= 1
        self._unreserve(pending)
        if pending.future.done():
            return
        if isinstance(outcome, BaseException):
            pending.future.set_exception(outcome)
        else:
            pending.future.set_result(outcome)

    def _requeue(self, pending: Pending, why: str, *, count: bool = True) -> None:
        """Into a later round (or online after the deadline fallback), within the limit."""
        if pending.settled:
            return
        if count:
            pending.attempts += 1
        if pending.attempts > self.config.max_retries:
            message = f"batch request {why} in {pending.attempts} rounds; giving up"
            self._settle(pending, BatchRequestError(message, request=self._info(pending)))
            return
        self.resubmitted += 1
        if self.online:
            self._spawn(self._online(pending), "batch-online")
            return
        self._join_round(pending, self._payload(pending.request, pending.handle))

    # -- gathering -------------------------------------------------------------------

    async def _flusher(self) -> None:
        """Wait for requests; flush a round when the rule says so."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if not self._gather:
                continue
            first = self._clock()
            # The rule reads the engine's live count, which changes without telling us;
            # checking it is O(1), so a short tick is simpler than an event per change.
            while self._gather and not self._should_flush(first):  # noqa: ASYNC110
                await asyncio.sleep(min(0.02, self.config.idle_flush_seconds / 4))
            if self._gather:
                await self._flush()

    def _should_flush(self, first: float) -> bool:
        now = self._clock()
        gathered = self._round
        if self.online or gathered is None:
            return True
        if gathered.requests >= self.config.max_requests:
            return True
        if gathered.bytes >= self.config.max_bytes:
            return True
        live = self._live() if self._live is not None else 0
        # While a part's answers are being read, its waiters still count as waiting but
        # are about to ask again: the round waits for them (or for max_gather_seconds).
        if live > 0 and self._waiting >= live and not self._resolving:
            return True
        if live <= 0 and now - self._last_arrival >= self.config.idle_flush_seconds:
            return True
        return now - first >= self.config.max_gather_seconds

    async def _flush(self) -> None:
        """Close the gathered round's files and submit its parts (or send it online)."""
        batch, gathered = self._gather, self._round
        self._gather, self._round = [], None
        if gathered is None:
            return
        flushed_at = self._wall()
        if not self.online and self._cannot_finish():
            await self._go_online("the deadline cannot be met in batch rounds")
        if self.online:
            await gathered.discard()
            for pending in batch:
                if not pending.settled:
                    self._spawn(self._online(pending), "batch-online")
            return
        del batch  # the parts' waiters hold them now
        try:
            files = await gathered.seal()
        except OSError as exc:
            for part_file in gathered.parts:
                for pending in part_file.waiters.values():
                    self._settle(pending, LLMError(f"batch mode: cannot write the round: {exc}"))
            return
        self.rounds += 1
        for part_file in files:
            part = self._part_of(part_file)
            # when the round's phases happened (wall clock): its per-round fixed cost
            part.state.extra["gathered_from"] = gathered.started_at
            part.state.extra["flushed_at"] = flushed_at
            self._parts[part.state.name] = part
            self._spawn(self._run_part(part), f"batch-{part.state.name}")

    def _part_of(self, written: PartFile) -> Part:
        state = PartState(
            name=written.name,
            round=written.round,
            part=written.index,
            model=written.model,
            requests=written.requests,
            tokens=written.tokens,
            bytes=written.bytes,
        )
        state.extra["written_at"] = self._wall()
        return Part(state, waiters=written.waiters)

    def _token_limit(self) -> int | None:
        configured = self.config.enqueued_token_limit
        learned = self._learned_limit
        if configured is None or learned is None:
            return configured if learned is None else learned
        return min(configured, learned)

    # -- one part --------------------------------------------------------------------

    async def _run_part(self, part: Part) -> None:
        state = part.state
        try:
            await self._record(state)
            await self._reserve(state.model, state.tokens)
        except Exception as exc:
            self._fail_part(part, exc)
            self._retire(part)
            return
        try:
            state.file_id = await self.api.upload(self.journal.input_path(state.name))
            state.state = "uploaded"
            state.extra["uploaded_at"] = self._wall()
            await self._record(state)
            await self._create(part)
        except Exception as exc:
            await self._release(state.model, state.tokens)
            self._fail_part(part, exc)
            self._retire(part)
            return
        await self._follow(part)

    async def _create(self, part: Part) -> None:
        state = part.state
        assert state.file_id is not None
        batch = await self.api.create(
            state.file_id, self.config.completion_window, self._meta(state)
        )
        await self._created(part, batch)

    async def _created(self, part: Part, batch: dict[str, Any]) -> None:
        """Record the batch id before anything waits on it."""
        state = part.state
        state.batch_id = str(batch["id"])
        state.state = "created"
        state.status = str(batch.get("status") or "validating")
        state.created_at = self._wall()
        await self._record(state)
        self.batches_created += 1
        part.started = self._clock()
        if not self._gather and not self._resolving and not self.online:
            collect_while_waiting()  # every request of the run is in a batch now
            await offload.to_thread(heap.give_back_free_pages)  # what the round freed
        logger.info(
            "batch round %d part %d: %s with %d requests (~%d prompt tokens)",
            state.round,
            state.part,
            state.batch_id,
            state.requests,
            state.tokens,
        )

    def _meta(self, state: PartState) -> dict[str, str]:
        return {
            "asyncgen_run": self.journal.run_id,
            "asyncgen_round": str(state.round),
            "asyncgen_part": str(state.part),
            "asyncgen_name": state.name,
        }

    async def _follow(self, part: Part) -> None:
        """Poll until the batch ends, download its files, resolve its requests."""
        state = part.state
        assert state.batch_id is not None
        try:
            batch = await self._poll(part)
            await self._download(state, batch)
        except LLMStatusError as exc:
            await self._release(state.model, state.tokens)
            if exc.status_code == 404 and part.resumed:
                await self._lose(part, f"the provider no longer knows batch {state.batch_id}")
            else:
                self._fail_part(part, exc, recorded=True)
            self._retire(part)
            return
        except Exception as exc:
            logger.warning("batch %s: %s; resumable from the run directory", state.batch_id, exc)
            await self._release(state.model, state.tokens)
            self._fail_part(part, exc, recorded=True)
            self._retire(part)
            return
        await self._release(state.model, state.tokens)
        if state.status == "completed" and not part.resumed:
            # it ended between the last poll that saw it running and the one that saw it
            # ended (the download after is not the provider's time)
            ended = part.ended_seen_at
            if part.running_at > 0:
                ended = (part.running_at + ended) / 2
            self.round_times.append(ended - part.started)
        if not self._charging:  # the ledger is closing: a resume charges this part
            logger.info(
                "batch %s: answers downloaded after the run closed its ledger; "
                "charged when the run resumes",
                state.batch_id,
            )
            self._retire(part)
            return
        # Shielded and awaited by aclose: once answers are being charged, a cancel does
        # not stop the part halfway or before the record that all was charged (a SIGKILL
        # there is caught on resume by the ledger's count of the part's charges).
        finish = asyncio.create_task(self._finish(part, batch), name=f"finish-{state.name}")
        self._records.add(finish)
        finish.add_done_callback(self._records.discard)
        await asyncio.shield(finish)

    async def _finish(self, part: Part, batch: dict[str, Any]) -> None:
        """Resolve and charge a downloaded part, then record that it was charged."""
        state = part.state
        self._resolving += 1
        try:
            await self._resolve(part, batch)
        finally:
            self._resolving -= 1
        self._retire(part)
        self._flush_ledger()  # its lines on disk before the record that it was charged
        state.extra["charged"] = True
        state.extra["charged_at"] = self._wall()
        await self._record(state)

    async def _poll(self, part: Part) -> dict[str, Any]:
        """Retrieve until the batch ends; each wait is `poll_share` of the time waited so
        far (within `poll_initial`..`poll_max`), so a poll overshoots a batch's end by at
        most that share, however long batches take."""
        state = part.state
        assert state.batch_id is not None
        while True:
            await asyncio.sleep(self._poll_wait(self._clock() - part.started))
            batch = await self.api.retrieve(state.batch_id)
            state.status = str(batch.get("status"))
            state.extra["counts"] = batch.get("request_counts") or {}
            if state.status not in TERMINAL:
                part.running_at = self._clock()
            else:
                part.ended_seen_at = self._clock()
                state.extra["provider_ended_at"] = batch.get(f"{state.status}_at")
                state.extra["seen_ended_at"] = self._wall()
                return batch
            if self._deadline_passed() and state.status in ("validating", "in_progress"):
                await self._go_online("the deadline passed with batches in flight")

    def _poll_wait(self, waited: float) -> float:
        """The next wait between polls: `poll_share` of the time waited so far (within
        `poll_initial`..`poll_max`), capped by the observed round time: never past the
        round's expected end; after it, as long as the batch has run late so far (from an
        eighth of `poll_share` of a round) and at most `poll_share` of a round. So a poll
        overshoots a batch's end by a bounded share of the round, not of `poll_max`, and a
        batch that ends a little late is seen a little late (at most twice as late, not a
        full `poll_share` of a round later: ~0.5 s of every 60 s round)."""
        config = self.config
        wait = min(config.poll_max, max(config.poll_initial, waited * config.poll_share))
        expected = self.round_time()
        if expected is None:
            return wait
        left = expected - waited
        if left > 0:
            return max(MIN_POLL, min(wait, left))
        share = expected * config.poll_share
        return max(MIN_POLL, min(wait, share, max(share / 8, -left)))

    async def _download(self, state: PartState, batch: dict[str, Any]) -> None:
        """Save the output and error files in the run directory (streamed to disk)."""
        for which, key in (("output", "output_file_id"), ("errors", "error_file_id")):
            file_id = batch.get(key)
            if not file_id:
                continue
            path = self.journal.output_path(state.name, which)
            await self.api.download(str(file_id), path)
            setattr(state, "output" if which == "output" else "errors", path.name)
        state.state = "done"
        state.finished_at = self._wall()
        state.extra["errors"] = (
            (batch.get("errors") or {}).get("data") if batch.get("errors") else None
        )
        await self._record(state)

    async def _resolve(self, part: Part, batch: dict[str, Any]) -> None:
        """Read the downloaded files line by line: charge each answer the provider billed
        (in file order, under the part's ledger ref) and hand each request its answer,
        its error, or a place in a later round."""
        state = part.state
        if state.status == "failed":
            self._failed_batch(part, batch)
            return
        cancelled_by_us = self.online
        ref = self._ref(state)
        billed = 0
        for name in (state.output, state.errors):
            if not name:
                continue
            async with contextlib.aclosing(iter_lines(self.journal.parts_dir / name)) as lines:
                async for line in lines:
                    custom_id = str(line.get("custom_id"))
                    pending = part.waiters.pop(custom_id, None)
                    billed += billable(line)
                    if pending is None:
                        self._charge_line(state.model, line, ref)
                        self._earlier.unclaimed(part, custom_id, line)
                        continue
                    self._answer_line(pending, line, cancelled_by_us, ref)
        state.extra["billable"] = billed
        for pending in part.waiters.values():  # in neither file
            self._requeue(pending, "had no answer in the batch's files")
        part.waiters.clear()
        self._earlier.forget_part(part)

    def _answer_line(
        self, pending: Pending, line: dict[str, Any], cancelled_by_us: bool, ref: str
    ) -> None:
        response = line.get("response")
        error = line.get("error")
        if isinstance(response, dict) and response.get("status_code") == 200:
            try:
                result = self._result(pending, response.get("body"))
            except LLMError as exc:
                retry = should_retry(exc, self.policy)
                self._bill_bad_answer(pending, response.get("body"), exc, final=not retry, ref=ref)
                if retry:
                    self._requeue(pending, f"got a bad answer ({exc})")
                else:
                    self._settle(pending, exc)
                return
            self.costs.charge(
                pending.handle.model,
                result.prompt_tokens,
                result.completion_tokens,
                cached=result.cached_tokens,
                kind=pending.request.kind,
                ref=ref,
            )
            self._settle(pending, result)
            return
        if isinstance(response, dict):
            status = int(response.get("status_code") or 500)
            refused = provider_error(status, response.get("body"), self._info(pending))
            if should_retry(refused, self.policy):
                self._requeue(pending, f"failed ({status})")
            else:
                self._settle(pending, refused)
            return
        code = str((error or {}).get("code") or "unknown")
        own_cancel = code == "batch_cancelled" and cancelled_by_us
        self._requeue(pending, f"ended {code}", count=not own_cancel)

    def _failed_batch(self, part: Part, batch: dict[str, Any]) -> None:
        """A batch that failed validation: nothing ran. Queue full → retry; else fail."""
        errors = ((batch.get("errors") or {}).get("data")) or []
        codes = {str(e.get("code")) for e in errors}
        message = "; ".join(str(e.get("message")) for e in errors[:3]) or "batch failed"
        waiters = list(part.waiters.values())
        part.waiters.clear()
        if "token_limit_exceeded" in codes:
            self._learn_limit(message, part.state.tokens)
            for pending in waiters:
                self._requeue(pending, "waited for the enqueued-token limit", count=False)
            return
        for pending in waiters:
            error = LLMError(
                f"the Batch API refused the batch: {message}", request=self._info(pending)
            )
            self._settle(pending, error)

    def _learn_limit(self, message: str, tokens: int) -> None:
        found = re.search(r"Limit:\s*([\d,]+)", message)
        limit = int(found[1].replace(",", "")) if found else max(1, tokens // 2)
        self._learned_limit = min(limit, self._learned_limit or limit)
        logger.warning("enqueued-token limit %d; rounds are split to fit", self._learned_limit)

    def _fail_part(self, part: Part, exc: Exception, *, recorded: bool = False) -> None:
        """A part that could not be submitted or followed: its waiters get the error."""
        error = exc if isinstance(exc, LLMError) else LLMError(f"batch mode: {exc}")
        if not recorded and part.state.state == "written":
            part.state.state = "abandoned"
            try:
                self.journal.record(part.state)
            except OSError:
                pass
        for pending in part.waiters.values():
            self._settle(pending, error)
        part.waiters.clear()

    # -- results and money -----------------------------------------------------------

    def _charge_earlier(self) -> None:
        """Charge answers a killed session downloaded but died before charging (the
        ledger listens by now); each part once. What the run's ledger already holds under
        the part's ref (charged line by line before the kill) is not charged again."""
        for state, lines in self._uncharged:
            ref = self._ref(state)
            done = self.ledger_charges(ref) if self.ledger_charges is not None else 0
            for line in lines:
                if not billable(line):
                    continue
                if done > 0:
                    done -= 1
                    continue
                self._charge_line(state.model, line, ref)
            self._flush_ledger()
            state.extra["charged"] = True
            record = asyncio.create_task(self._record(state), name=f"batch-charged-{state.name}")
            self._records.add(record)  # awaited by aclose, never cancelled
            record.add_done_callback(self._records.discard)
        self._uncharged.clear()

    def _charge_line(self, model: str, line: dict[str, Any], ref: str) -> None:
        """Charge one billed output line from its body's usage."""
        if not billable(line):
            return
        body = line["response"].get("body")
        self.costs.charge_body(model, body, kind=kind_of(str(line.get("custom_id", ""))), ref=ref)

    def _flush_ledger(self) -> None:
        if self.ledger_flush is not None:
            self.ledger_flush()

    def _ref(self, state: PartState) -> str:
        """The part's name in ledger lines (`ref`): how a resume counts its charges."""
        return f"batch:{self.journal.run_id}:{state.name}"

    def _result(self, pending: Pending, body: Any) -> ChatResult:
        completion = wire.completion_of(
            body,
            require_complete=pending.request.require_complete,
            info=self._info(pending),
        )
        model = pending.handle.model
        return ChatResult(
            content=completion.content,
            model=completion.model or model,
            provider=pending.handle.provider,
            finish_reason=completion.finish_reason,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            latency=self._clock() - pending.started,
            attempts=pending.attempts + 1,
            request_id=completion.request_id,
            raw=completion.raw,
            cached_tokens=completion.cached_tokens,
        )

    def _bill_bad_answer(
        self, pending: Pending, body: Any, exc: LLMError, *, final: bool, ref: str
    ) -> None:
        """An answer that arrived but is unusable (empty, cut, broken) is billed all the same."""
        self.costs.charge_body(
            pending.handle.model,
            body,
            kind=pending.request.kind,
            outcome=failure_cause(exc),
            final=final,
            ref=ref,
        )

    def _info(self, pending: Pending) -> RequestInfo:
        return {"base_url": self.api.base_url, "model": pending.handle.model, "mode": "batch"}

    # -- resume ----------------------------------------------------------------------

    async def _restore(self, state: PartState) -> None:
        """One recorded part: forget, keep its answers, or follow its batch again."""
        if state.state == "written":
            state.state = "abandoned"  # never uploaded: nothing was paid
            await self._record(state)
            return
        if state.state in ("abandoned", "lost"):
            return
        if state.state == "done":
            charged = bool(state.extra.get("charged"))
            uncharged: list[dict[str, Any]] = []
            for name in (state.output, state.errors):
                if not name:
                    continue
                path = self.journal.parts_dir / name
                async with contextlib.aclosing(iter_spans(path)) as spans:
                    async for offset, length, line in spans:
                        self._earlier.keep(line, (path, offset, length))
                        if not charged and billable(line):
                            uncharged.append(line)
            if not charged:  # killed between download and the record that all was charged
                self._uncharged.append((state, uncharged))
            return
        part = Part(state, resumed=True)
        created = state.created_at or state.extra.get("written_at") or self._wall()
        part.started = self._clock() - max(0.0, self._wall() - float(created))
        self._parts[state.name] = part
        for custom_id in await offload.to_thread(input_ids, self.journal.input_path(state.name)):
            self._earlier.add_slot(part, custom_id)
        self._enqueued[state.model] += state.tokens
        self._spawn(self._resume(part), f"batch-resume-{state.name}")

    async def _resume(self, part: Part) -> None:
        state = part.state
        try:
            await self._recreate_if_needed(part)
        except LLMStatusError as exc:
            if exc.status_code not in (400, 404):
                raise
            await self._release(state.model, state.tokens)
            await self._lose(part, f"its input file is gone ({exc})")
            self._retire(part)
            return
        logger.info("resuming batch %s (round %d part %d)", state.batch_id, state.round, state.part)
        await self._follow(part)

    async def _recreate_if_needed(self, part: Part) -> None:
        """A part uploaded but not recorded as created: find its batch, else create it."""
        state = part.state
        if state.state == "uploaded":
            since = float(state.extra.get("written_at") or 0) - 3600
            found = await self.api.find(
                {"asyncgen_run": self.journal.run_id, "asyncgen_name": state.name}, since
            )
            if found is not None:
                logger.info("batch %s found by its metadata (created, not recorded)", found["id"])
                await self._created(part, found)
            else:
                await self._create(part)

    async def _lose(self, part: Part, why: str) -> None:
        """A recorded batch the provider cannot find (deleted, another account, or an
        embedded simulator that stopped with the killed run): nothing of it can be
        collected, so its requests are submitted again."""
        state = part.state
        logger.warning(
            "batch round %d part %d: %s; its requests go into a new round",
            state.round,
            state.part,
            why,
        )
        state.state = "lost"
        state.extra["lost"] = why
        await self._record(state)
        self._earlier.forget_part(part)
        for pending in list(part.waiters.values()):
            self._requeue(pending, "was in a lost batch", count=False)
        part.waiters.clear()

    # -- limits, deadline, online fallback -------------------------------------------

    async def _reserve(self, model: str, tokens: int) -> None:
        """Wait until the model's enqueued-token queue has room for `tokens`."""
        async with self._room:
            while True:
                limit = self._token_limit()
                held = self._enqueued[model]
                if limit is None or held == 0 or held + tokens <= limit:
                    break
                await self._room.wait()
            self._enqueued[model] += tokens

    async def _release(self, model: str, tokens: int) -> None:
        async with self._room:
            self._enqueued[model] -= tokens
            self._room.notify_all()

    def round_time(self) -> float | None:
        """The mean observed round time (created → completed), or None before one ended."""
        recent = self.round_times
        return sum(recent) / len(recent) if recent else None

    def rounds_left(self) -> int:
        """Rounds still needed, estimated from items done per round so far (at least 1)."""
        if self._progress is None or self.rounds == 0:
            return 1
        done, target = self._progress()
        if done <= 0 or done >= target:
            return 1
        return max(1, math.ceil(self.rounds * (target - done) / done))

    def _deadline_passed(self) -> bool:
        return self.deadline is not None and self._wall() >= self.deadline

    def _cannot_finish(self) -> bool:
        if self.deadline is None:
            return False
        left = self.deadline - self._wall()
        if left <= 0:
            return True
        expected = self.round_time()
        return expected is not None and self.rounds_left() * expected > left

    async def _go_online(self, why: str) -> None:
        """Cancel batches in flight; everything not yet answered goes online from now."""
        if self.online:
            return
        self.online = True
        self.online_reason = why
        self._hold_collections(False)  # online calls overlap: the default policy again
        logger.warning("batch mode: %s; cancelling batches in flight and finishing online", why)
        for part in list(self._parts.values()):
            state = part.state
            if state.batch_id and state.status in ("validating", "in_progress"):
                try:
                    await self.api.cancel(state.batch_id)
                except LLMError as exc:
                    logger.warning("could not cancel %s: %s", state.batch_id, exc)
        waiting = [p for p in self._gather if not p.settled]
        gathered, self._gather, self._round = self._round, [], None
        if gathered is not None:
            await gathered.discard()
        for pending in waiting:
            self._spawn(self._online(pending), "batch-online")
        self._earlier.forget_slots()

    async def _online(self, pending: Pending) -> None:
        try:
            result = await self._online_call(pending.request, pending.handle)
        except LLMError as exc:
            self._settle(pending, exc)
        else:
            self._settle(pending, result)

    async def _online_call(self, request: ChatRequest, handle: ModelHandle) -> ChatResult:
        """Through the transport, whose budget check then counts what batch answers (this
        session's and earlier ones') cost: the run has one budget."""
        batch = self.usage
        self.transport.usage.carry(
            batch.carried_cost + batch.cost_usd,
            batch.carried_tokens + batch.tokens_in + batch.tokens_out,
        )
        self.online_requests += 1
        return await self.transport.chat(request, handle)

    # -- housekeeping ----------------------------------------------------------------

    def _retire(self, part: Part) -> None:
        """An ended part leaves the in-flight table and is kept only as a count by state,
        so the client's memory follows the parts in flight, not the rounds run so far."""
        if self._parts.pop(part.state.name, None) is None:
            return
        status = part.state.status or part.state.state
        ended = self._ended.setdefault(status, {"batches": 0, "requests": 0})
        ended["batches"] += 1
        ended["requests"] += part.state.requests

    def _hold_collections(self, hold: bool) -> None:
        """Hold back automatic full collections while this client runs rounds (once)."""
        if hold and not self._gc_held:
            hold_full_collections()
        elif not hold and self._gc_held:
            release_full_collections()
        self._gc_held = hold

    async def _record(self, state: PartState) -> None:
        await offload.to_thread(self.journal.record, state)

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("batch task %s failed", task.get_name(), exc_info=task.exception())

    def progress(self) -> dict[str, Any]:
        """Rounds, batches and requests by state, round time, ETA, cost and saving."""
        states: dict[str, dict[str, int]] = {s: {"batches": 0, "requests": 0} for s in STATES}
        for status, ended in self._ended.items():
            entry = states.setdefault(status, {"batches": 0, "requests": 0})
            entry["batches"] += ended["batches"]
            entry["requests"] += ended["requests"]
        for part in self._parts.values():
            status = part.state.status or part.state.state
            entry = states.setdefault(status, {"batches": 0, "requests": 0})
            entry["batches"] += 1
            entry["requests"] += part.state.requests
        expected = self.round_time()
        at_online = self.usage_online_prices.cost_usd
        return {
            "mode": "online (fallback)" if self.online else "batch",
            "fallback_reason": self.online_reason,
            "rounds": self.rounds,
            "batches": self.batches_created,
            "states": {k: v for k, v in states.items() if v["batches"]},
            "gathering": len(self._gather),
            "waiting": self._waiting,
            "round_time_s": None if expected is None else round(expected, 3),
            "eta_s": None if expected is None else round(self.rounds_left() * expected, 1),
            "resubmitted": self.resubmitted,
            "answered_from_earlier_session": self.from_earlier,
            "online_requests": self.online_requests,
            "cost_usd_batch": round(self.usage.cost_usd, 6),
            "cost_usd_at_online_prices": round(at_online, 6),
            "saving_usd": round(self.costs.saving_usd, 6),
            "deadline": None
            if self.deadline is None
            else datetime.fromtimestamp(self.deadline).astimezone().isoformat(timespec="seconds"),
        }


class BatchStats:
    """The transport's counters with batch usage folded in, plus the batch progress."""

    def __init__(self, client: BatchClient) -> None:
        self.client = client

    def snapshot(self) -> StatsSnapshot:
        """What the engine's progress, metrics and summary read."""
        client = self.client
        data = client.transport.stats.snapshot()
        usage = client.usage
        data["requests"] = int(data.get("requests", 0)) + sum(
            u.requests for u in usage.by_model.values()
        )
        data["tokens_in"] = int(data.get("tokens_in", 0)) + usage.tokens_in
        data["tokens_out"] = int(data.get("tokens_out", 0)) + usage.tokens_out
        data["cost_usd"] = round(client.cost_usd, 6)
        data["budget_exhausted"] = client.budget_exhausted
        data["usage_by_model_batch"] = usage.snapshot()
        data["batch"] = client.progress()
        return data


@contextlib.asynccontextmanager
async def open_batch_client(
    transport: Transport,
    settings: LLMSettings,
    *,
    base_url: str | None,
    api_key: str | None,
    run_dir: Path,
    expected_round_time: float | None = None,
) -> AsyncIterator[BatchClient]:
    """A started `BatchClient` on the run's endpoint (the provider's default URL if none).

    `expected_round_time` (the embedded simulator's, which is known) is taken as the
    first observed round time, so polls wake at the end of the very first round instead
    of `poll_initial` later (a 2 s simulated round took 5 s).
    """
    from asyncgen.config.llm import PROVIDER_DEFAULTS

    url = base_url or settings.base_url or PROVIDER_DEFAULTS[settings.provider][0]
    api = BatchAPI(url, api_key, settings.timeouts)
    client = BatchClient(transport, settings, api, run_dir)
    if expected_round_time is not None and expected_round_time > 0:
        client.round_times.append(expected_round_time)
    try:
        await client.start()
        yield client
    finally:
        await client.aclose()
