"""Append-only JSONL files: one writer task per file, whole lines, crash-safe tails.

A line is written with a single `os.write` of the serialised object plus its newline, so
a line either ends in a newline or is the torn tail of a killed process; `repair_tail`
cuts such a tail off before a resumed run appends to the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import orjson
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from asyncgen import offload
from asyncgen.background import BackgroundTasks
from asyncgen.errors import AsyncgenError, StoreError

_CHUNK = 1 << 16
_DUMP_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS

Callback = Callable[[], None]
logger = logging.getLogger("asyncgen.store")


def dumps_line(obj: Any) -> bytes:
    """Serialise one object as a JSON line.

    Raises:
        TypeError: the object holds a value JSON cannot represent.
    """
    return orjson.dumps(obj, option=_DUMP_OPTIONS)


def repair_tail(path: Path) -> int:
    """Cut a torn last line (one without its newline) off `path`; return the bytes dropped."""
    if not path.exists():
        return 0
    with path.open("rb+") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return 0
        cut = _last_newline_end(handle, size)
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
        return size - cut


def _last_newline_end(handle: Any, size: int) -> int:
    """Offset just past the last newline before `size`, or 0."""
    pos = size
    while pos > 0:
        start = max(0, pos - _CHUNK)
        handle.seek(start)
        found = handle.read(pos - start).rfind(b"\n")
        if found >= 0:
            return int(start + found + 1)
        pos = start
    return 0


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream `(line number, object)` from a JSONL file; blank lines are skipped.

    The one JSONL reader of run files. A torn last line (no newline: a writer was killed
    mid-line) is skipped with a warning; any other line that is not a JSON object is an
    error, never skipped silently.

    Raises:
        StoreError: a complete line is not a JSON object (names file and line).
    """
    if not path.exists():
        return
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if not raw.endswith(b"\n"):
                try:
                    obj = parse_line(raw, f"{path}:{lineno}")
                except StoreError:
                    logger.warning("%s:%d: torn last line skipped", path, lineno)
                    return
                yield lineno, obj
                return
            yield lineno, parse_line(raw, f"{path}:{lineno}")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every object of a small JSONL file, in order (see `iter_jsonl`)."""
    return [obj for _, obj in iter_jsonl(path)]


def read_repaired(path: Path) -> list[dict[str, Any]]:
    """Every object line of a file appended to in place (a stage file): a torn last line is
    cut off first, so the next append starts a whole line.

    Raises:
        StoreError: the file cannot be read or repaired, or a complete line is not an object.
    """
    try:
        dropped = repair_tail(path)
        if dropped:
            logger.warning("%s: dropping a torn last line", path)
        return read_jsonl(path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot read or repair ({exc.strerror})") from exc


def append_lines(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows as whole lines in one write, then fsync (files with no writer task).

    Raises:
        StoreError: the file cannot be written.
    """
    blob = b"".join(dumps_line(row) for row in rows)
    if not blob:
        return
    try:
        with path.open("ab") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise StoreError(f"{path}: cannot append ({exc.strerror})") from exc


def parse_line(
    raw: bytes | str,
    where: str,
    error: type[AsyncgenError] = StoreError,
    *,
    expected: str = "a JSON object",
) -> dict[str, Any]:
    """One JSONL line as a JSON object.

    Args:
        raw: the line.
        where: its location (`file:line`), the start of any error message.
        error: the error class raised.
        expected: what the line should be, for the message when it is not an object.

    Raises:
        AsyncgenError: `error`, when the line is not valid JSON or not a JSON object.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise error(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise error(f"{where}: expected {expected}")
    return obj


def count_lines(path: Path) -> int:
    """Number of complete lines in a file (0 when it does not exist)."""
    if not path.exists():
        return 0
    total = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            total += chunk.count(b"\n")
    return total


Entry = tuple[bytes, "asyncio.Future[None]", Callback | None]
_BATCH_LINES = 1024  # lines a writer takes from its queue per write at most


def open_appending(paths: Sequence[Path]) -> list[int]:
    """Open each file for appending, created if missing (blocking); the descriptors in
    order. A file that cannot be opened closes those opened before it.

    Raises:
        StoreError: naming the file that cannot be opened for writing, and why.
    """
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
    fds: list[int] = []
    for path in paths:
        try:
            fds.append(os.open(path, flags, 0o644))
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise StoreError(f"cannot write {path}: {exc.strerror}") from exc
    return fds


class JsonlWriter:
    """Owns one output file: a task drains a bounded stream and appends whole lines.

    Producers send on the stream; `aclose` closes it, and the drain task ends once it has
    written every line sent before (no end marker). A line submitted after `aclose` is
    a `StoreError`, never a line that is silently not written. The drain task and the
    fsync cadence run in a task group that `start` enters and `aclose` exits (same task;
    `async with writer:` does both); the drain is shielded from cancellation, so what
    was sent is written even when the run is cancelled.

    Every line is written and handed to the kernel before its `write` returns (so it
    survives a kill of the process); a second task fsyncs in a worker thread every
    `fsync_interval` seconds while anything is unsynced, and once more at close (so it
    survives a power cut too); an interval of 0 fsyncs after every line.
    """

    def __init__(
        self,
        path: Path,
        *,
        fsync_interval: float = 1.0,
        queue_size: int = 256,
    ) -> None:
        self.path = path
        self.lines_written = 0
        self._fsync_interval = fsync_interval
        self._queue_size = queue_size
        self._send: MemoryObjectSendStream[Entry] | None = None  # opened by `start`
        self._fd: int | None = None
        self._tasks = BackgroundTasks()
        self._closing: anyio.Event | None = None  # made by `start` (needs a running loop)
        self._dirty = False
        self.syncs = 0
        self.error: StoreError | None = None

    async def start(self, fd: int | None = None) -> None:
        """Open the file for appending (or take `fd`, opened so by `open_appending`, which
        the writer then owns) and start the drain task.

        Raises:
            StoreError: the file cannot be opened for writing.
        """
        if fd is None:
            fd = (await offload.to_thread(open_appending, [self.path]))[0]
        self._fd = fd
        self._send, receive = anyio.create_memory_object_stream[Entry](self._queue_size)
        self._closing = anyio.Event()
        await self._tasks.open()
        self._tasks.start_soon(self._drain, receive, name=f"writer:{self.path.name}")
        if self._fsync_interval > 0:
            self._tasks.start_soon(self._sync_periodically, name=f"fsync:{self.path.name}")

    @classmethod
    async def start_all(
        cls, writers: Sequence[JsonlWriter], stack: contextlib.AsyncExitStack
    ) -> None:
        """Start `writers` with their files opened in one thread trip (one round trip
        to a worker thread instead of one each: fewer waits before a run's first
        request); each is closed by `stack`, in reverse order.

        Raises:
            StoreError: a file cannot be opened for writing (nothing is started).
        """
        fds = await offload.to_thread(open_appending, [writer.path for writer in writers])
        for index, writer in enumerate(writers):
            try:
                await writer.start(fds[index])
            except BaseException:
                for fd in fds[index + 1 :]:  # not handed to a writer yet
                    os.close(fd)
                raise
            stack.push_async_callback(writer.aclose)

    async def __aenter__(self) -> JsonlWriter:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def write(self, obj: Any, on_written: Callback | None = None) -> None:
        """Queue one object and return once its line is in the file.

        Raises:
            TypeError: the object cannot be serialised (nothing is written).
            StoreError: the file can no longer be written (e.g. the disk is full).
        """
        await asyncio.shield(await self.submit(obj, on_written))

    async def submit(self, obj: Any, on_written: Callback | None = None) -> asyncio.Future[None]:
        """Queue one object; the returned future completes when its line is in the file.

        `on_written` runs in the writer task right after the line is written, even when
        the caller has been cancelled meanwhile, so counters only ever count lines on disk.

        Raises:
            TypeError: the object cannot be serialised (nothing is queued).
            StoreError: the file can no longer be written (e.g. the disk is full).
        """
        if self.error is not None:
            raise self.error
        line = dumps_line(obj)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._send is None:
            raise StoreError(f"cannot write {self.path}: its writer is not started")
        try:
            await self._send.send((line, done, on_written))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise StoreError(f"cannot write {self.path}: its writer is closed") from exc
        return done

    async def aclose(self) -> None:
        """Write everything queued, fsync and close (all of it also when cancelled)."""
        if not self._tasks.is_open:
            return
        if self._send is not None:
            self._send.close()
        assert self._closing is not None
        self._closing.set()
        try:
            await self._tasks.close()  # the (shielded) drain ends once the stream is empty
        finally:
            with anyio.CancelScope(shield=True):
                with contextlib.suppress(OSError):
                    await self._sync()
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None

    async def _drain(self, receive: MemoryObjectReceiveStream[Entry]) -> None:
        """Append lines until the stream is closed and empty; after a write error, fail
        every waiter.

        Each turn takes every line already queued (up to `_BATCH_LINES`) and writes them
        with one `os.write`: when thousands of conversations end at once (a batch round's
        answers), one line per event-loop turn let their finished records pile up in
        memory behind the writer while new work started.
        """
        with anyio.CancelScope(shield=True):  # ends when `aclose` closes the stream
            async with receive:
                async for entry in receive:
                    entries = [entry]
                    while len(entries) < _BATCH_LINES:
                        try:
                            entries.append(receive.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    await self._handle(entries)

    async def _handle(self, entries: list[Entry]) -> None:
        """Write the lines, then settle their waiters and run their callbacks in order."""
        written = 0
        if self.error is None:
            written, exc = self._append([line for line, _, _ in entries])
            if exc is not None:
                reason = getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}"
                self.error = StoreError(f"cannot write {self.path}: {reason}")
        for index, (_, done, on_written) in enumerate(entries):
            if index >= written:
                assert self.error is not None
                if not done.done():
                    done.set_exception(self.error)
                continue
            if on_written is not None:
                try:
                    on_written()
                except Exception:  # a broken counter must not stop the file's writer
                    logger.exception("callback after writing to %s failed", self.path)
            if not done.done():
                done.set_result(None)
        if written and self._fsync_interval <= 0:
            await self._sync()

    async def _sync_periodically(self) -> None:
        """fsync every `fsync_interval` while something was written, until closing."""
        assert self._closing is not None
        while not self._closing.is_set():
            with anyio.move_on_after(self._fsync_interval):
                await self._closing.wait()
            with contextlib.suppress(OSError):
                await self._sync()

    def _append(self, lines: list[bytes]) -> tuple[int, Exception | None]:
        """One `os.write` for the lines (a short write, rare, e.g. a full disk, is
        completed); returns how many lines are whole in the file, and the failure if a
        write failed (any failure must fail the waiters, never hang them)."""
        assert self._fd is not None
        data = lines[0] if len(lines) == 1 else b"".join(lines)
        view = memoryview(data)
        done = 0
        try:
            while view:
                count = os.write(self._fd, view)
                view = view[count:]
                done += count
        except Exception as exc:
            whole, total = 0, 0
            for line in lines:
                total += len(line)
                if total > done:
                    break
                whole += 1
            self.lines_written += whole
            self._dirty = self._dirty or done > 0
            return whole, exc
        self.lines_written += len(lines)
        self._dirty = True
        return len(lines), None

    async def _sync(self) -> None:
        """fsync off the event loop when something was written since the last one."""
        if self._fd is None or not self._dirty:
            return
        self._dirty = False
        self.syncs += 1
        await offload.to_thread(os.fsync, self._fd)
