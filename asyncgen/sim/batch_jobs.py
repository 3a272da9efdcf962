"""The simulator's batches: validate, queue against the enqueued-token limit, answer, finish.

A batch lives as OpenAI documents: ``validating`` → ``in_progress`` → ``finalizing`` →
``completed`` (or ``failed`` at validation, ``expired`` when requests missed the window,
``cancelling`` → ``cancelled``). Answers come from the same `Answerer` (responders by
kind, seeded per request) and the same fault plan as online answers, so a deterministic
simulator gives a batch request the answer it would have given online. The prompt kind
travels in the custom id after a ``#`` (a batch line has no headers).

How long a batch takes, from creation to results, is drawn per batch (lognormal around
`round_time`; validation and answering happen within it); each request gets a finishing
moment within it, so a cancelled batch keeps what finished before the
cancel, as OpenAI's does.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from asyncgen import offload
from asyncgen.config.batch import SimBatchSettings
from asyncgen.config.sim import SimSettings
from asyncgen.sim.batch_files import FileStore
from asyncgen.sim.content import Answerer
from asyncgen.sim.faults import FaultPlan
from asyncgen.sim.request import RequestError, parse_chat_call
from asyncgen.sim.wire import completion_body, usage_dict
from asyncgen.tokens import count_message_tokens, count_tokens, truncate_to_tokens

__all__ = ["AnswerSource", "SimBatch", "SimBatches", "kind_of"]

ENDPOINTS = ("/v1/chat/completions",)
_CHUNK = 200  # lines handled between yields to the event loop
_EXPIRED = "This request could not be executed before the completion window expired."
_CANCELLED = "This request was not executed because the batch was cancelled."
_ERROR_500 = "The server had an error while processing your request. Sorry about that!"


def kind_of(custom_id: str) -> str:
    """The prompt kind a client put after ``#`` in the custom id ("generic" otherwise)."""
    _, sep, kind = custom_id.rpartition("#")
    return kind if sep and kind else "generic"


class AnswerSource(Protocol):
    """What batches take from the simulator: its settings, fault plan and answerer."""

    settings: SimSettings
    faults: FaultPlan
    answerer: Answerer


@dataclass
class SimBatch:
    """One batch and every field of OpenAI's Batch object."""

    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, str] | None
    created_at: int
    status: str = "validating"
    times: dict[str, int] = field(default_factory=dict)
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[dict[str, Any]] | None = None
    model: str | None = None
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    born: float = field(default_factory=lambda: asyncio.get_running_loop().time())

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's Batch object."""
        stamps = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling")
        body: dict[str, Any] = {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": None if self.errors is None else {"object": "list", "data": self.errors},
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 24 * 3600,
            "cancelled_at": self.times.get("cancelled"),
            "request_counts": {
                "total": self.total,
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": self.metadata,
        }
        for name in stamps:
            body[f"{name}_at"] = self.times.get(name)
        return body


@dataclass
class _Line:
    """One input line, parsed."""

    number: int
    custom_id: str
    body: dict[str, Any]
    tokens: int


class SimBatches:
    """Every batch of this simulator, and the per-model queue of enqueued tokens."""

    def __init__(self, app: AnswerSource, settings: SimBatchSettings, files: FileStore) -> None:
        self.app = app
        self.settings = settings
        self.files = files
        self.batches: dict[str, SimBatch] = {}
        self.enqueued: Counter[str] = Counter()
        self.rng = random.Random(app.settings.seed ^ 0xBA7C)
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def create(
        self, input_file_id: str, endpoint: str, window: str, metadata: dict[str, str] | None
    ) -> SimBatch:
        """Register a batch and start working on it."""
        batch = SimBatch(
            id=f"batch_sim{next(self._ids):012d}",
            input_file_id=input_file_id,
            endpoint=endpoint,
            completion_window=window,
            metadata=metadata,
            created_at=int(time.time()),
        )
        self.batches[batch.id] = batch
        task = asyncio.create_task(self._run(batch), name=f"sim-{batch.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return batch

    def listing(self, after: str | None, limit: int) -> tuple[list[SimBatch], bool]:
        """Newest first, as OpenAI lists them; the page after `after` and whether more follow."""
        ordered = list(reversed(self.batches.values()))
        if after is not None:
            ids = [b.id for b in ordered]
            ordered = ordered[ids.index(after) + 1 :] if after in ids else []
        return ordered[:limit], len(ordered) > limit

    def request_cancel(self, batch: SimBatch) -> None:
        """Start cancelling: work in progress stops; finished requests are kept."""
        if batch.status in ("validating", "in_progress"):
            batch.status = "cancelling"
            batch.times["cancelling"] = int(time.time())
            batch.cancel.set()

    async def aclose(self) -> None:
        """Stop every batch task."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass

    # -- one batch -------------------------------------------------------------------

    async def _run(self, batch: SimBatch) -> None:
        if await _wait(batch.cancel, self.settings.validating_seconds):
            self._finish_cancelled_early(batch)
            return
        lines = await self._parse(batch)
        if lines is None:
            return
        tokens = sum(line.tokens for line in lines)
        model = batch.model or ""
        if not self._admit(batch, model, tokens):
            return
        try:
            await self._work(batch, lines)
        finally:
            self.enqueued[model] -= tokens

    def _finish_cancelled_early(self, batch: SimBatch) -> None:
        batch.status = "cancelled"
        batch.times["cancelled"] = int(time.time())

    async def _parse(self, batch: SimBatch) -> list[_Line] | None:
        """The input lines, or None after failing the batch with OpenAI's error list."""
        content = await self.files.read(batch.input_file_id)
        lines: list[_Line] = []
        errors: list[dict[str, Any]] = []
        seen: set[str] = set()
        for number, raw in enumerate(content.splitlines(), start=1):
            if not raw.strip():
                continue
            problem = self._check(number, raw, batch, seen, lines)
            if problem is not None:
                errors.append(problem)
            if number % _CHUNK == 0:
                await asyncio.sleep(0)
        if not lines and not errors:
            errors.append(_error("empty_file", "The input file contains no requests.", None))
        if len(lines) > self.settings.max_requests:
            message = f"The batch has {len(lines)} requests; at most {self.settings.max_requests}."
            errors.append(_error("too_many_requests", message, None))
        if errors:
            self._fail(batch, errors[:100])
            return None
        batch.total = len(lines)
        return lines

    def _check(
        self, number: int, raw: bytes, batch: SimBatch, seen: set[str], lines: list[_Line]
    ) -> dict[str, Any] | None:
        """Check one line; append it to `lines` when valid, else return its error."""
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return _error("invalid_json_line", "This line is not parseable as valid JSON.", number)
        if not isinstance(entry, dict):
            return _error("invalid_request", "Each line must be a JSON object.", number)
        custom_id, body = entry.get("custom_id"), entry.get("body")
        if not isinstance(custom_id, str) or not custom_id:
            return _error("missing_required_parameter", "custom_id is required.", number)
        if custom_id in seen:
            message = f"The custom_id {custom_id!r} is not unique within the batch."
            return _error("duplicate_custom_id", message, number, "custom_id")
        if entry.get("method") != "POST" or entry.get("url") != batch.endpoint:
            message = f"The url must be {batch.endpoint!r} and the method POST for this batch."
            return _error("invalid_url", message, number, "url")
        if not isinstance(body, dict) or not isinstance(body.get("model"), str):
            return _error("missing_required_parameter", "body.model is required.", number)
        if batch.model is None:
            batch.model = body["model"]
        elif body["model"] != batch.model:
            message = "All requests in a batch must use the same model."
            return _error("mismatched_model", message, number, "body.model")
        seen.add(custom_id)
        messages = body.get("messages")
        tokens = count_message_tokens(messages) if isinstance(messages, list) else 0
        lines.append(_Line(number, custom_id, body, tokens))
        return None

    def _fail(self, batch: SimBatch, errors: list[dict[str, Any]]) -> None:
        batch.errors = errors
        batch.status = "failed"
        batch.times["failed"] = int(time.time())

    def _admit(self, batch: SimBatch, model: str, tokens: int) -> bool:
        """Queue the batch's prompt tokens, or fail it when the model's queue is full."""
        limit = self.settings.enqueued_token_limit
        if batch.cancel.is_set():
            self._finish_cancelled_early(batch)
            return False
        if limit is not None and self.enqueued[model] + tokens > limit:
            message = (
                f"Enqueued token limit reached for {model} in organization org-asyncgen-sim. "
                f"Limit: {limit:,} enqueued tokens. Please try again once some in_progress "
                "batches have been completed."
            )
            self._fail(batch, [_error("token_limit_exceeded", message, None)])
            return False
        self.enqueued[model] += tokens
        batch.status = "in_progress"
        batch.times["in_progress"] = int(time.time())
        return True

    async def _work(self, batch: SimBatch, lines: list[_Line]) -> None:
        """Answer every line, wait out the batch's time (or a cancel), write the files."""
        loop = asyncio.get_running_loop()
        started = batch.born  # a batch takes its time from creation, validation included
        duration = self._duration()
        answered: list[tuple[float, _Line, bytes, bool]] = []
        for index, line in enumerate(lines):
            answered.append(self._answer(line, duration))
            if index % _CHUNK == _CHUNK - 1:
                await asyncio.sleep(0)
        cancelled = await _wait(batch.cancel, duration - (loop.time() - started))
        cut = loop.time() - started if cancelled else math.inf
        batch.status = "cancelling" if cancelled else "finalizing"
        if not cancelled:
            batch.times["finalizing"] = int(time.time())
        await self._write(batch, answered, cut)

    def _duration(self) -> float:
        base = self.settings.round_time
        sigma = self.settings.round_time_sigma
        return base * math.exp(sigma * self.rng.gauss(0.0, 1.0)) if sigma > 0 else base

    def _answer(self, line: _Line, duration: float) -> tuple[float, _Line, bytes, bool]:
        """(finishing moment, line, output line, is an error line) for one request."""
        at = duration * self.rng.random()
        request_id = f"batch_req_sim{next(self._ids):012d}"
        if self.rng.random() < self.settings.expiry_rate:
            return math.inf, line, _out(request_id, line.custom_id, None, "batch_expired"), True
        if self.rng.random() < self.settings.error_rate:
            return at, line, _status_line(request_id, line, 500, _ERROR_500, "server_error"), True
        fault = self.app.faults.draw()
        if fault in ("error_500", "error_503"):
            status = 500 if fault == "error_500" else 503
            return (
                at,
                line,
                _status_line(request_id, line, status, _ERROR_500, "server_error"),
                True,
            )
        try:
            call = parse_chat_call(orjson.dumps(line.body))
        except RequestError as exc:
            error = _status_line(
                request_id, line, 400, str(exc), "invalid_request_error", exc.param
            )
            return at, line, error, True
        answer = self.app.answerer.answer(
            kind_of(line.custom_id),
            call.messages,
            model=call.model,
            max_tokens=call.max_tokens,
            params=call.params,
        )
        text, finish, out_tokens = answer.content, answer.finish_reason, answer.completion_tokens
        if fault == "empty_content":
            text, finish, out_tokens = "", "stop", 0
        elif fault == "truncate_length":
            text = truncate_to_tokens(text, max(0, out_tokens // 2))
            finish, out_tokens = "length", count_tokens(text)
        body = completion_body(
            request_id=f"chatcmpl-{request_id}",
            model=call.model,
            created=int(time.time()),
            content=text,
            finish_reason=finish,
            usage=usage_dict(line.tokens, out_tokens),
        )
        if fault == "malformed_json":
            body = orjson.dumps(body[: len(body) // 2].decode("utf-8", "replace"))
        out = (
            b'{"id":"'
            + request_id.encode()
            + b'","custom_id":'
            + orjson.dumps(line.custom_id)
            + b',"response":{"status_code":200,"request_id":"req_'
            + request_id.encode()
            + b'","body":'
            + body
            + b'},"error":null}'
        )
        return at, line, out, False

    async def _write(
        self, batch: SimBatch, answered: list[tuple[float, _Line, bytes, bool]], cut: float
    ) -> None:
        """Write the output and error files; set counts and the final status."""
        outputs: list[bytes] = []
        errors: list[bytes] = []
        expired = False
        for at, line, out, is_error in answered:
            if at == math.inf and cut == math.inf:
                expired = True
                errors.append(out)
            elif at > cut:
                request_id = f"batch_req_sim{next(self._ids):012d}"
                errors.append(_out(request_id, line.custom_id, None, "batch_cancelled"))
            elif is_error:
                errors.append(out)
            else:
                outputs.append(out)
        batch.completed, batch.failed = len(outputs), len(errors)
        if outputs:
            batch.output_file_id = await self._store(outputs, f"{batch.id}_output.jsonl")
        if errors:
            batch.error_file_id = await self._store(errors, f"{batch.id}_error.jsonl")
        now = int(time.time())
        if cut != math.inf:
            batch.status = "cancelled"
            batch.times["cancelled"] = now
        elif expired:
            batch.status = "expired"
            batch.times["expired"] = now
        else:
            batch.status = "completed"
            batch.times["completed"] = now

    async def _store(self, lines: list[bytes], filename: str) -> str:
        file_id = self.files.new_id()
        path = self.files.path_for(file_id)
        await offload.to_thread(path.write_bytes, b"\n".join(lines) + b"\n")
        self.files.add(file_id, path, filename, "batch_output")
        return file_id


async def _wait(event: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless `event` is set first; True when it was."""
    if event.is_set():
        return True
    if seconds <= 0:
        return False
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True


def _error(code: str, message: str, line: int | None, param: str | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def _out(request_id: str, custom_id: str, response: Any, error_code: str | None) -> bytes:
    """An output/error line; `error_code` fills the `error` object for expired/cancelled."""
    error = None
    if error_code is not None:
        message = _EXPIRED if error_code == "batch_expired" else _CANCELLED
        error = {"code": error_code, "message": message}
    return orjson.dumps(
        {"id": request_id, "custom_id": custom_id, "response": response, "error": error}
    )


def _status_line(
    request_id: str,
    line: _Line,
    status: int,
    message: str,
    type_: str,
    param: str | None = None,
) -> bytes:
    """An error-file line for a request answered with an HTTP error status."""
    body = {"error": {"message": message, "type": type_, "param": param, "code": None}}
    response = {"status_code": status, "request_id": f"req_{request_id}", "body": body}
    return _out(request_id, line.custom_id, response, None)
