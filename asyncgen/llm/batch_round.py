"""The round being gathered, written to disk as its requests arrive.

Each request's input line goes into the open part file of its model at once (buffered,
written off the loop in chunks), so a round of 10,000 requests never sits in memory as
bodies: a waiting request keeps only its digest, size and the future it waits on. A part
that would pass the requests, bytes or enqueued-token cap of one batch is closed and
the next line starts a new part of the same round. `seal` writes what is buffered,
fsyncs and closes every file, and hands back the parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from asyncgen import offload
from asyncgen.llm.batch_parts import LINE_OVERHEAD, Pending, custom_id_for, input_line

WRITE_CHUNK = 256 * 1024  # bytes buffered per part before a write off the loop


@dataclass(eq=False)
class PartFile:
    """One part of the round: its input file and the requests in it, by custom id."""

    name: str
    round: int
    index: int
    model: str
    path: Path
    requests: int = 0
    bytes: int = 0
    tokens: int = 0
    waiters: dict[str, Pending] = field(default_factory=dict)
    buffer: bytearray = field(default_factory=bytearray)
    fd: int | None = None


@dataclass(frozen=True)
class Caps:
    """What one batch may hold."""

    max_requests: int
    max_bytes: int
    token_limit: int | None


class RoundFiles:
    """The parts of one round, filled as requests arrive."""

    def __init__(self, folder: Path, round_no: int) -> None:
        self.folder = folder
        self.round = round_no
        self.started_at = 0.0  # wall clock of its first request
        self.parts: list[PartFile] = []
        self.requests = 0
        self.bytes = 0
        self._open: dict[str, PartFile] = {}  # model → the part taking its requests
        self._chunks: list[tuple[PartFile, bytes]] = []
        self._writer: asyncio.Task[None] | None = None
        self._failure: OSError | None = None

    def add(self, pending: Pending, payload: bytes, caps: Caps) -> None:
        """Append the request's line to its model's open part (a new part when full)."""
        model = pending.handle.model
        part = self._open.get(model)
        size = len(payload) + LINE_OVERHEAD
        if part is not None and self._full(part, size, pending.tokens, caps):
            self._spill(part)
            part = None
        if part is None:
            index = len(self.parts)
            name = f"{self.round:05d}-{index:03d}"
            part = PartFile(name, self.round, index, model, self.folder / f"{name}.jsonl")
            self.parts.append(part)
            self._open[model] = part
        custom_id = custom_id_for(pending, part.name, part.requests)
        part.buffer += input_line(custom_id, payload)
        part.waiters[custom_id] = pending
        part.requests += 1
        part.bytes += size
        part.tokens += pending.tokens
        self.requests += 1
        self.bytes += size
        if len(part.buffer) >= WRITE_CHUNK:
            self._spill(part)

    @staticmethod
    def _full(part: PartFile, size: int, tokens: int, caps: Caps) -> bool:
        if part.requests >= caps.max_requests or part.bytes + size > caps.max_bytes:
            return True
        return caps.token_limit is not None and part.tokens + tokens > caps.token_limit

    def _spill(self, part: PartFile) -> None:
        """Queue the part's buffered lines for the writer (off the loop, in order)."""
        if part.buffer:
            self._chunks.append((part, bytes(part.buffer)))
            part.buffer.clear()
        if self._chunks and (self._writer is None or self._writer.done()):
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._chunks:
            part, data = self._chunks.pop(0)
            try:
                await offload.to_thread(_append, part, data)
            except OSError as exc:
                self._failure = exc

    async def seal(self) -> list[PartFile]:
        """Write what is left, fsync and close every part file; the parts, in order.

        Raises:
            OSError: a part file could not be written.
        """
        for part in self.parts:
            self._spill(part)
        if self._writer is not None:
            await self._writer
        if self._failure is not None:
            raise self._failure
        for part in self.parts:
            await offload.to_thread(_finish, part)
        parts, self.parts, self._open = self.parts, [], {}
        return parts

    async def discard(self) -> None:
        """Drop the round's files (its requests went elsewhere)."""
        self._chunks.clear()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer
        for part in self.parts:
            await offload.to_thread(_remove, part)
        self.parts, self._open = [], {}


def _append(part: PartFile, data: bytes) -> None:
    if part.fd is None:
        part.fd = os.open(part.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    view = memoryview(data)
    while view:
        view = view[os.write(part.fd, view) :]


def _finish(part: PartFile) -> None:
    if part.fd is None:
        _append(part, b"")
    assert part.fd is not None
    os.fsync(part.fd)
    os.close(part.fd)
    part.fd = None


def _remove(part: PartFile) -> None:
    if part.fd is not None:
        os.close(part.fd)
        part.fd = None
    part.path.unlink(missing_ok=True)
