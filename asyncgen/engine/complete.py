"""`complete` as a pipeline: each input line is one chat-completion request, one item.

Input lines are OpenAI chat-completions request bodies, optionally with an `id` and
`metadata` (and an asyncgen `kind`); the Batch API shape `{"custom_id", "body": {...}}`
is accepted too. Each body goes out as the user wrote it, minus asyncgen's own keys
(`id`, `metadata`, `kind` stay local; `metadata` comes back on the result): parameters
asyncgen does not know, `max_completion_tokens` included, pass through untouched. The
whole file is validated before the first request, keeping only each line's offset and id
in memory; a line's body is read again when its item runs.
"""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from asyncgen import offload
from asyncgen.config import RunConfig
from asyncgen.contract import (
    Failure,
    Outcome,
    PipelineBase,
    PipelineTraits,
    Reason,
    Record,
    RunContext,
    WorkItem,
)
from asyncgen.errors import ConfigError, DatasetError, LLMError, LLMResponseError, LLMStatusError
from asyncgen.jsontypes import JsonObject
from asyncgen.llm.errors import RejectedAnswerError
from asyncgen.llm.retry import failure_cause
from asyncgen.llm.types import ChatRequest, ModelHandle
from asyncgen.store.jsonl import parse_line

LOCAL_KEYS = frozenset({"id", "metadata", "kind"})


@dataclass(frozen=True, slots=True)
class LineSpan:
    """Where item *i*'s input line lies in the input file (its payload)."""

    offset: int
    length: int


class CompletePipeline(PipelineBase):
    """One chat completion per input line; a rerun skips ids that already have a result."""

    name = "complete"

    def __init__(
        self,
        config: RunConfig,
        input_path: Path | None = None,
        *,
        records_file: str = "results.jsonl",
        model: str | None = None,
    ) -> None:
        self.config = config
        self.input_path = input_path
        self.records_file = records_file
        self.model = model
        self.plan_size: int | None = None
        self._offsets: array[int] = array("q")
        self._lengths: array[int] = array("q")
        self._ids: list[str] = []
        self._fd: int | None = None

    async def prepare(self, ctx: RunContext) -> None:
        """Validate the input file and index its lines.

        Raises:
            ConfigError: no input file was given.
            DatasetError: the file is missing or a line is malformed (file and line named).
        """
        if self.plan_size is None:
            await offload.cpu(self.scan)  # reads and parses every line
        assert self.input_path is not None
        self._fd = await offload.to_thread(os.open, self.input_path, os.O_RDONLY)

    def scan(self) -> int:
        """Validate the whole input before any request; returns the number of requests.

        Raises:
            ConfigError: no input file was given.
            DatasetError: the file is missing or a line is malformed (file and line named).
        """
        if self.input_path is None:
            raise ConfigError(
                "the complete pipeline needs an input file: use asyncgen complete --input FILE"
            )
        self._scan(self.input_path)
        self.plan_size = len(self._ids)
        return self.plan_size

    def traits(self) -> PipelineTraits:
        """A finite plan (the input's lines); failures are retried by a rerun, never replaced."""
        return PipelineTraits(
            plan_size=self.plan_size, supplements=False, retry_failures_on_resume=True
        )

    async def aclose(self) -> None:
        """Close the input file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def plan_fingerprint(self) -> JsonObject:
        """Results are matched by id, so any input may continue an output file."""
        return {}

    def plan_item(self, index: int) -> WorkItem[LineSpan]:
        """Line `index` of the input (its id, and where its body is)."""
        span = LineSpan(self._offsets[index], self._lengths[index])
        return WorkItem(index=index, seed=0, payload=span, id=self._ids[index])

    async def run_item(self, item: WorkItem[LineSpan], ctx: RunContext) -> Outcome:
        """Send the line's request; a failed call becomes a failure with its reason."""
        line = self._read(item)
        request, handle = self._request(line)
        try:
            result = await ctx.client.chat(request, handle)
        except LLMError as exc:
            return _failure(exc, line.get("metadata"))
        data: JsonObject = {
            "model": result.model,
            "content": result.content,
            "finish_reason": result.finish_reason,
            "usage": {
                "prompt_tokens": result.prompt_tokens,
                "completion_tokens": result.completion_tokens,
                "total_tokens": result.prompt_tokens + result.completion_tokens,
            },
            "latency_s": round(result.latency, 4),
            "attempts": result.attempts,
            "request_id": result.request_id,
        }
        if result.usage_estimated:
            data["usage"]["estimated"] = True
        tool_calls = _tool_calls(result.raw)
        if tool_calls:
            data["tool_calls"] = tool_calls
        if line.get("metadata") is not None:
            data["metadata"] = line["metadata"]
        return Record(id=item.record_id, data=data)

    def restore(self, record: JsonObject) -> None:
        """Nothing to re-learn: each line stands alone."""

    def index_entry(self, record: Record) -> JsonObject:
        """Id, model and finish reason of a result."""
        return {
            "id": record.id,
            "model": record.data.get("model"),
            "finish_reason": record.data.get("finish_reason"),
        }

    def dedup_text(self, record: Record) -> str | None:
        """Completions are never deduplicated."""
        return None

    def _read(self, item: WorkItem[LineSpan]) -> JsonObject:
        """The item's input line (a page-cache read of one line)."""
        assert self._fd is not None
        raw = os.pread(self._fd, item.payload.length, item.payload.offset)
        line: JsonObject = orjson.loads(raw)
        return line

    def _request(self, line: JsonObject) -> tuple[ChatRequest, ModelHandle | None]:
        """The line's body as it goes out, and a model handle when one is named."""
        body = _body(line)
        sent = {k: v for k, v in body.items() if k not in LOCAL_KEYS}
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        request = ChatRequest(
            messages=body["messages"],
            kind=str(line.get("kind") or body.get("kind") or "generic"),
            max_tokens=limit if isinstance(limit, int) else None,
            stream=body.get("stream") is True,
            metadata=dict(line.get("metadata") or {}),
            body=sent,
        )
        model = self.model or body.get("model")
        if not model:
            return request, None
        return request, ModelHandle(provider=self.config.llm.provider, model=str(model))

    def _scan(self, path: Path) -> None:
        """Validate every line, keeping offsets, lengths and ids."""
        seen: set[str] = set()
        offset = 0
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read ({exc.strerror})") from exc
        with handle:
            for lineno, raw in enumerate(handle, start=1):
                if raw.strip():
                    record_id = _validate(path, lineno, raw)
                    if record_id in seen:
                        raise DatasetError(f"{path}:{lineno}: id {record_id!r} appears twice")
                    seen.add(record_id)
                    self._ids.append(record_id)
                    self._offsets.append(offset)
                    self._lengths.append(len(raw))
                offset += len(raw)


def _body(line: JsonObject) -> JsonObject:
    body = line.get("body")
    return body if isinstance(body, dict) else line


def _validate(path: Path, lineno: int, raw: bytes) -> str:
    """The line's id; raises DatasetError naming file and line when it is malformed."""
    where = f"{path}:{lineno}"
    what = "a JSON object (a chat-completion request body)"
    line = parse_line(raw, where, DatasetError, expected=what)
    messages = _body(line).get("messages")
    if not isinstance(messages, list) or not messages:
        raise DatasetError(f"{where}: 'messages' must be a non-empty list")
    for position, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise DatasetError(f"{where}: messages[{position}] needs a 'role'")
    record_id = line.get("id", line.get("custom_id"))
    if record_id is None:
        return f"line-{lineno}"
    if not isinstance(record_id, str | int):
        raise DatasetError(f"{where}: 'id' must be a string or an integer")
    return str(record_id)


def _failure(exc: LLMError, metadata: Any = None) -> Failure:
    """A failed request's line: the reason, the true attempt count, the last request id."""
    detail: JsonObject = {"error": type(exc).__name__}
    if isinstance(exc, LLMStatusError):
        detail["status_code"] = exc.status_code
    request_id = exc.request.get("request_id") or getattr(exc, "request_id", None)
    if request_id:
        detail["request_id"] = request_id
    if metadata is not None:
        detail["metadata"] = metadata
    raw = exc.raw if isinstance(exc, LLMResponseError) else None
    attempts = int(exc.request.get("attempts") or 1)
    detail["cause"] = failure_cause(exc)
    reason = Reason.LLM_REFUSED if isinstance(exc, RejectedAnswerError) else Reason.LLM_ERROR
    return Failure(
        reason=reason,
        message=f"{type(exc).__name__}: {exc}",
        attempts=attempts,
        raw=raw,
        detail=detail,
    )


def _tool_calls(raw: JsonObject | None) -> Any:
    """The first choice's tool calls, when the request offered tools and the model used them."""
    try:
        return raw["choices"][0]["message"].get("tool_calls") if raw else None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
