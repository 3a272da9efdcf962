"""Batch mode: every waiting conversation's next request goes into one round's batch.

`BatchClient` has the transport's `chat(request, handle)`, so pipelines run unchanged:
each call parks its request and awaits a future. A round is flushed when every live
conversation is waiting (the engine tells how many are live, `attach_run`), when the
requests or bytes reach the batch caps, after `idle_flush_seconds` without a new request
while no engine is attached (preparation stages), or after `max_gather_seconds`.

A round is split into parts (one Batch API batch each) by model, by the provider's
requests and bytes per batch, and by the enqueued-token limit per model: a part waits
until the model's queue has room, so a round larger than the limit runs as consecutive
batches. Each part: write and fsync the input file → record → upload → record the file
id → create (metadata: run id, round, part) → record the batch id → poll with backoff →
download the output and error files → record → resolve each waiting request.

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

import orjson

from asyncgen import offload
from asyncgen.config.batch import parse_deadline
from asyncgen.config.llm import LLMSettings
from asyncgen.errors import LLMError, LLMStatusError
from asyncgen.llm import wire
from asyncgen.llm.batch_api import STATES, TERMINAL, BatchAPI, provider_error
from asyncgen.llm.batch_costs import BatchCosts
from asyncgen.llm.batch_earlier import EarlierWork
from asyncgen.llm.batch_journal import BatchJournal, PartState, input_ids, read_lines
from asyncgen.llm.batch_parts import (
    BatchRequestError,
    Part,
    Pending,
    count_tokens,
    input_line,
    new_part,
    split_round,
)
from asyncgen.llm.retry import RetryPolicy, failure_cause, should_retry
from asyncgen.llm.stats import StatsSnapshot
from asyncgen.llm.transport import Transport
from asyncgen.llm.types import ChatRequest, ChatResult, LiveCount, ModelHandle, Progress

logger = logging.getLogger("asyncgen.llm.batch")
ROUND_TIMES_KEPT = 5  # the round time (and so the ETA and deadline) is the mean of the last five


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
        self._gather_bytes = 0
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
        self._live: LiveCount | None = None
        self._progress: Progress | None = None
        self._started = False
        self._uncharged: list[tuple[PartState, list[dict[str, Any]]]] = []

    # -- life cycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Read the journal: poll batches a killed session created, keep finished answers."""
        if self._started:
            return
        self._started = True
        parts = await offload.to_thread(self.journal.open)
        for state in parts:
            self._next_round = max(self._next_round, state.round + 1)
            await self._restore(state)
        self._spawn(self._flusher(), "batch-flusher")

    async def aclose(self) -> None:
        """Stop polling and gathering; batches in flight stay recorded for a resume."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self.api.aclose()

    def attach_run(self, live: LiveCount, progress: Progress | None = None) -> None:
        """The engine's hook: how many conversations are live, and (done, target)."""
        self._live = live
        self._progress = progress
        self._charge_earlier()
        self._wake.set()

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
        s = self.settings
        if s.max_cost is not None and self.cost_usd >= s.max_cost:
            return True
        tokens = self.usage.tokens_in + self.usage.tokens_out
        tokens += self.transport.usage.tokens_in + self.transport.usage.tokens_out
        return s.max_tokens is not None and tokens >= s.max_tokens

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
        body = wire.build_body(replace(request, stream=False), handle)
        payload = wire.encode(body)
        loop = asyncio.get_running_loop()
        pending = Pending(
            request=request,
            handle=handle,
            payload=payload,
            digest=hashlib.blake2b(payload, digest_size=8).hexdigest(),
            tokens=len(payload) // 4,  # counted (off the loop) only when a queue limit applies
            future=loop.create_future(),
            started=self._clock(),
        )
        self._waiting += 1
        try:
            if not self._answer_from_earlier(pending):
                self._enter(pending)
            return await pending.future
        finally:
            if not pending.settled:  # cancelled while waiting
                pending.settled = True
                self._waiting -= 1

    # -- requests waiting ------------------------------------------------------------

    def _enter(self, pending: Pending) -> None:
        """Attach to a resumed batch holding the same request, else join the round."""
        slot = self._earlier.take_slot(pending.digest)
        if slot is not None:
            part, custom_id = slot
            part.waiters[custom_id] = pending
            return
        if self.online:
            self._spawn(self._online(pending), "batch-online")
            return
        self._gather.append(pending)
        self._gather_bytes += len(pending.payload) + 120
        self._last_arrival = self._clock()
        self._wake.set()

    def _answer_from_earlier(self, pending: Pending) -> bool:
        """Answer from a batch a previous session already paid for."""
        while (line := self._earlier.take_answer(pending.digest)) is not None:
            try:
                result = self._result(pending, line["response"]["body"], count=False)
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
        self._gather.append(pending)
        self._gather_bytes += len(pending.payload) + 120
        self._last_arrival = self._clock()
        self._wake.set()

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
        if self.online or len(self._gather) >= self.config.max_requests:
            return True
        if self._gather_bytes >= self.config.max_bytes:
            return True
        live = self._live() if self._live is not None else 0
        if live > 0 and self._waiting >= live:
            return True
        if live <= 0 and now - self._last_arrival >= self.config.idle_flush_seconds:
            return True
        return now - first >= self.config.max_gather_seconds

    async def _flush(self) -> None:
        """Turn the gathered requests into one round of parts (or send them online)."""
        batch = [p for p in self._gather if not p.settled]
        self._gather = []
        self._gather_bytes = 0
        if not batch:
            return
        if not self.online and self._cannot_finish():
            await self._go_online("the deadline cannot be met in batch rounds")
        if self.online:
            for pending in batch:
                self._spawn(self._online(pending), "batch-online")
            return
        if self._token_limit() is not None:
            await offload.cpu(count_tokens, batch)
        round_no = self._next_round
        self._next_round += 1
        self.rounds += 1
        groups = split_round(
            batch,
            max_requests=self.config.max_requests,
            max_bytes=self.config.max_bytes,
            token_limit=self._token_limit(),
        )
        for index, group in enumerate(groups):
            part = new_part(round_no, index, group)
            self._parts[part.state.name] = part
            self._spawn(self._run_part(part, group), f"batch-{part.state.name}")

    def _token_limit(self) -> int | None:
        configured = self.config.enqueued_token_limit
        learned = self._learned_limit
        if configured is None or learned is None:
            return configured if learned is None else learned
        return min(configured, learned)

    # -- one part --------------------------------------------------------------------

    async def _run_part(self, part: Part, group: list[Pending]) -> None:
        state = part.state
        try:
            lines = [input_line(cid, p.payload) for cid, p in part.waiters.items()]
            state.extra["written_at"] = self._wall()
            state.bytes = await offload.to_thread(self.journal.write_input, state.name, lines)
            del lines  # on disk now; the part may wait hours
            await self._record(state)
            await self._reserve(state.model, state.tokens)
        except Exception as exc:
            self._fail_part(part, exc)
            self._retire(part)
            return
        try:
            state.file_id = await self.api.upload(self.journal.input_path(state.name))
            state.state = "uploaded"
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
            outputs, errors = await self._download(state, batch)
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
            self.round_times.append(self._clock() - part.started)
        self._resolve(part, batch, outputs, errors)
        self._retire(part)
        state.extra["charged"] = True
        await self._record(state)

    async def _poll(self, part: Part) -> dict[str, Any]:
        """Retrieve until the batch ends; each wait is `poll_share` of the time waited so
        far (within `poll_initial`..`poll_max`), so a poll overshoots a batch's end by at
        most that share, however long batches take."""
        state = part.state
        assert state.batch_id is not None
        config = self.config
        while True:
            waited = self._clock() - part.started
            await asyncio.sleep(
                min(config.poll_max, max(config.poll_initial, waited * config.poll_share))
            )
            batch = await self.api.retrieve(state.batch_id)
            state.status = str(batch.get("status"))
            state.extra["counts"] = batch.get("request_counts") or {}
            if state.status in TERMINAL:
                return batch
            if self._deadline_passed() and state.status in ("validating", "in_progress"):
                await self._go_online("the deadline passed with batches in flight")

    async def _download(
        self, state: PartState, batch: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        files: dict[str, list[dict[str, Any]]] = {"output": [], "errors": []}
        for which, key in (("output", "output_file_id"), ("errors", "error_file_id")):
            file_id = batch.get(key)
            if not file_id:
                continue
            path = self.journal.output_path(state.name, which)
            await self.api.download(str(file_id), path)
            setattr(state, "output" if which == "output" else "errors", path.name)
            files[which] = await offload.to_thread(read_lines, path)
        state.state = "done"
        state.finished_at = self._wall()
        state.extra["errors"] = (
            (batch.get("errors") or {}).get("data") if batch.get("errors") else None
        )
        await self._record(state)
        return files["output"], files["errors"]

    def _resolve(
        self,
        part: Part,
        batch: dict[str, Any],
        outputs: list[dict[str, Any]],
        errors: list[dict[str, Any]],
    ) -> None:
        """Hand each request its answer, its error, or a place in a later round."""
        state = part.state
        if state.status == "failed":
            self._failed_batch(part, batch)
            return
        cancelled_by_us = self.online
        for line in outputs + errors:
            custom_id = str(line.get("custom_id"))
            pending = part.waiters.pop(custom_id, None)
            if pending is None:
                self._earlier.unclaimed(part, custom_id, line)
                continue
            self._answer_line(pending, line, cancelled_by_us)
        for pending in part.waiters.values():  # in neither file
            self._requeue(pending, "had no answer in the batch's files")
        part.waiters.clear()
        self._earlier.forget_part(part)

    def _answer_line(self, pending: Pending, line: dict[str, Any], cancelled_by_us: bool) -> None:
        response = line.get("response")
        error = line.get("error")
        if isinstance(response, dict) and response.get("status_code") == 200:
            try:
                self._settle(pending, self._result(pending, response.get("body"), count=True))
            except LLMError as exc:
                retry = should_retry(exc, self.policy)
                self._bill_bad_answer(pending, response.get("body"), exc, final=not retry)
                if retry:
                    self._requeue(pending, f"got a bad answer ({exc})")
                else:
                    self._settle(pending, exc)
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
        ledger listens by now); each part once."""
        for state, lines in self._uncharged:
            for line in lines:
                response = line.get("response")
                body = response.get("body") if isinstance(response, dict) else None
                kind = str(line.get("custom_id", "")).rpartition("#")[2] or "generic"
                self.costs.charge_body(state.model, body, kind=kind)
            state.extra["charged"] = True
            self.journal.record(state)
        self._uncharged.clear()

    def _result(self, pending: Pending, body: Any, *, count: bool) -> ChatResult:
        completion = wire.parse_completion(
            orjson.dumps(body),
            require_complete=pending.request.require_complete,
            info=self._info(pending),
        )
        model = pending.handle.model
        if count:
            self.costs.charge(
                model,
                completion.prompt_tokens,
                completion.completion_tokens,
                cached=completion.cached_tokens,
                kind=pending.request.kind,
            )
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

    def _bill_bad_answer(self, pending: Pending, body: Any, exc: LLMError, *, final: bool) -> None:
        """An answer that arrived but is unusable (empty, cut, broken) is billed all the same."""
        self.costs.charge_body(
            pending.handle.model,
            body,
            kind=pending.request.kind,
            outcome=failure_cause(exc),
            final=final,
        )

    def _info(self, pending: Pending) -> dict[str, Any]:
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
            if state.output:
                lines = await offload.to_thread(read_lines, self.journal.parts_dir / state.output)
                for line in lines:
                    self._earlier.keep(line)
                if not state.extra.get("charged"):  # killed between download and resolve
                    self._uncharged.append((state, lines))
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
        logger.warning("batch mode: %s; cancelling batches in flight and finishing online", why)
        for part in list(self._parts.values()):
            state = part.state
            if state.batch_id and state.status in ("validating", "in_progress"):
                try:
                    await self.api.cancel(state.batch_id)
                except LLMError as exc:
                    logger.warning("could not cancel %s: %s", state.batch_id, exc)
        waiting = [p for p in self._gather if not p.settled]
        self._gather = []
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
) -> AsyncIterator[BatchClient]:
    """A started `BatchClient` on the run's endpoint (the provider's default URL if none)."""
    from asyncgen.config.llm import PROVIDER_DEFAULTS

    url = base_url or settings.base_url or PROVIDER_DEFAULTS[settings.provider][0]
    api = BatchAPI(url, api_key, settings.timeouts)
    client = BatchClient(transport, settings, api, run_dir)
    try:
        await client.start()
        yield client
    finally:
        await client.aclose()
