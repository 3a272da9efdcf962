"""Append-only JSONL: whole lines, counted only once written, torn tails cut, errors named."""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

import pytest

from asyncgen.errors import StoreError
from asyncgen.store import JsonlWriter, count_lines, iter_jsonl, repair_tail


def test_repair_tail_cuts_only_a_torn_last_line(tmp_path: Path) -> None:
    """A last line without its newline is removed; complete lines are kept."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1}\n{"id": 2}\n{"id": 3, "te')
    assert repair_tail(path) == len(b'{"id": 3, "te')
    assert path.read_bytes() == b'{"id": 1}\n{"id": 2}\n'
    assert repair_tail(path) == 0


def test_repair_tail_handles_a_file_that_is_all_torn(tmp_path: Path) -> None:
    """A file holding only a partial first line becomes empty."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"x" * 200_000)
    assert repair_tail(path) == 200_000 and path.read_bytes() == b""


def test_iter_jsonl_names_file_and_line_of_a_bad_line(tmp_path: Path) -> None:
    """A corrupt complete line is a StoreError naming where it is."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1}\nnot json\n')
    with pytest.raises(StoreError, match=r"r\.jsonl:2: not valid JSON"):
        list(iter_jsonl(path))


def test_iter_jsonl_skips_only_a_torn_last_line(tmp_path: Path) -> None:
    """The one reader tolerates a torn tail (no newline) but never a bad line mid-file."""
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"id": 1}\n\n{"id": 2}\n{"id": 3, "te')
    assert [obj["id"] for _, obj in iter_jsonl(path)] == [1, 2]
    path.write_bytes(b'{"id": 1}\n{"id": 2}')  # a whole object, only its newline missing
    assert [obj["id"] for _, obj in iter_jsonl(path)] == [1, 2]
    path.write_bytes(b'{"id": 1}\n{"id": 2, "te\n{"id": 3}\n')
    with pytest.raises(StoreError, match="r.jsonl:2"):
        list(iter_jsonl(path))


def test_interaction_stage_file_refuses_a_corrupt_middle_line(tmp_path: Path) -> None:
    """personas.jsonl with a broken line before good ones is an error, not a silent skip."""
    from asyncgen.store.jsonl import read_repaired

    path = tmp_path / "personas.jsonl"
    path.write_bytes(b'{"persona_id": "a"}\nnot json\n{"persona_id": "b"}\n{"persona_id"')
    with pytest.raises(StoreError, match="personas.jsonl:2"):
        read_repaired(path)


async def test_writer_appends_whole_lines_and_counts_after_writing(tmp_path: Path) -> None:
    """`on_written` runs once the line is in the file; the file holds one line per object."""
    path = tmp_path / "out.jsonl"
    writer = JsonlWriter(path, fsync_interval=0.0)
    await writer.start()
    seen: list[int] = []

    def check(expected: int) -> None:
        seen.append(count_lines(path))
        assert count_lines(path) == expected

    for i in range(5):
        await writer.write({"id": i, "text": "é" * i}, on_written=lambda i=i: check(i + 1))
    await writer.aclose()
    assert seen == [1, 2, 3, 4, 5]
    assert [obj["id"] for _, obj in iter_jsonl(path)] == [0, 1, 2, 3, 4]


async def test_writer_fsyncs_on_its_cadence_and_at_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a long interval, fsync happens only at close, not per line."""
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    writer = JsonlWriter(tmp_path / "out.jsonl", fsync_interval=3600.0)
    await writer.start()
    for i in range(20):
        await writer.write({"id": i})
    assert calls == []
    await writer.aclose()
    assert len(calls) == 1


async def test_idle_writer_still_fsyncs_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line written just before a quiet spell is fsynced on the cadence, not at the next line."""
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    writer = JsonlWriter(tmp_path / "out.jsonl", fsync_interval=0.05)
    await writer.start()
    await writer.write({"id": 1})
    await asyncio.sleep(0.3)
    assert len(calls) == 1
    await writer.aclose()
    assert len(calls) == 1


async def test_disk_error_fails_every_waiting_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a write error every queued and later write raises StoreError; none hangs."""
    import errno

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    writer = JsonlWriter(tmp_path / "out.jsonl", queue_size=2)
    await writer.start()
    monkeypatch.setattr("asyncgen.store.jsonl.os.write", full)
    results = await asyncio.gather(
        *(writer.write({"id": i}) for i in range(6)), return_exceptions=True
    )
    assert all(isinstance(r, StoreError) and "No space" in str(r) for r in results)
    with pytest.raises(StoreError):
        await writer.write({"id": 7})
    monkeypatch.undo()
    await writer.aclose()


async def test_unserialisable_object_is_refused_before_queueing(tmp_path: Path) -> None:
    """An object orjson cannot write raises TypeError and leaves the file untouched."""
    path = tmp_path / "out.jsonl"
    writer = JsonlWriter(path)
    await writer.start()
    with pytest.raises(TypeError):
        await writer.write({"bad": object()})
    await writer.aclose()
    assert path.read_bytes() == b""


async def test_unwritable_file_is_a_store_error(tmp_path: Path) -> None:
    """Opening a writer under a regular file fails with a clear StoreError."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    writer = JsonlWriter(blocker / "out.jsonl")
    with pytest.raises(StoreError, match="cannot write"):
        await writer.start()


async def test_a_line_after_close_is_an_error_not_a_hang(tmp_path: Path) -> None:
    """Once closed (the stream ends, no end marker), a write fails at once with a StoreError
    instead of waiting forever for a drain that has stopped; the lines before are kept."""
    writer = JsonlWriter(tmp_path / "out.jsonl", fsync_interval=0.0)
    with pytest.raises(StoreError, match="not started"):
        await asyncio.wait_for(writer.write({"id": "early"}), 2)
    await writer.start()
    await writer.write({"id": "a"})
    await writer.aclose()
    with pytest.raises(StoreError, match="writer is closed"):
        await asyncio.wait_for(writer.write({"id": "late"}), 2)
    assert (tmp_path / "out.jsonl").read_bytes() == b'{"id":"a"}\n'


def _ids(path: Path) -> list[int]:
    return [obj["id"] for _, obj in iter_jsonl(path)]


async def test_a_burst_of_lines_is_written_in_few_writes_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of records ending at once (a batch round's answers) leave the queue in a
    few writes, not one event-loop turn each: finished records do not pile up in memory."""
    path = tmp_path / "out.jsonl"
    real = JsonlWriter._append
    calls: list[int] = []

    def counted_append(self: JsonlWriter, lines: list[bytes]) -> tuple[int, Exception | None]:
        calls.append(len(lines))
        return real(self, lines)

    monkeypatch.setattr(JsonlWriter, "_append", counted_append)
    writer = JsonlWriter(path, queue_size=16)
    await writer.start()
    counted: list[int] = []
    await asyncio.gather(
        *(writer.write({"id": i}, on_written=lambda i=i: counted.append(i)) for i in range(3000))
    )
    await writer.aclose()
    assert await asyncio.to_thread(_ids, path) == list(range(3000))
    assert counted == list(range(3000)) and writer.lines_written == 3000
    assert sum(calls) == 3000 and len(calls) < 100


async def test_a_write_failing_mid_burst_keeps_the_whole_lines_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines whole in the file before a failed write count as written; the rest fail."""
    import errno

    landed: list[bytes] = []

    def short_then_full(fd: int, data: memoryview) -> int:
        if not landed and len(data) > 30:  # a burst: 35 bytes land, then the disk is full
            landed.append(bytes(data[:35]))
            return 35
        raise OSError(errno.ENOSPC, "No space left on device")

    writer = JsonlWriter(tmp_path / "out.jsonl", queue_size=64)
    await writer.start()
    monkeypatch.setattr("asyncgen.store.jsonl.os.write", short_then_full)
    counted: list[int] = []
    results = await asyncio.gather(
        *(writer.write({"id": i}, on_written=lambda i=i: counted.append(i)) for i in range(10)),
        return_exceptions=True,
    )
    monkeypatch.undo()
    await writer.aclose()
    whole = b"".join(landed).count(b"\n")  # {"id":0}\n is 9 bytes: 3 whole lines in 35
    ok = [i for i, r in enumerate(results) if r is None]
    assert ok == counted == list(range(whole)) and whole == 3
    assert writer.lines_written == 3
    assert all(isinstance(r, StoreError) and "No space" in str(r) for r in results[3:])


async def test_writers_started_together_append_and_close_in_one_stack(tmp_path: Path) -> None:
    """`start_all` opens every file in one thread trip; each writer appends its lines and
    the stack closes them all."""
    writers = [JsonlWriter(tmp_path / f"{name}.jsonl") for name in ("a", "b", "c")]
    async with contextlib.AsyncExitStack() as stack:
        await JsonlWriter.start_all(writers, stack)
        for number, writer in enumerate(writers):
            await writer.write({"n": number})
    assert [(tmp_path / f"{name}.jsonl").read_text() for name in "abc"] == [
        '{"n":0}\n',
        '{"n":1}\n',
        '{"n":2}\n',
    ]


async def test_one_file_that_cannot_be_opened_starts_none(tmp_path: Path) -> None:
    """A file that cannot be opened is named in the error; the files opened before it
    are closed again (no descriptor left behind) and no writer runs."""
    before = len(os.listdir("/proc/self/fd"))
    writers = [
        JsonlWriter(tmp_path / "a.jsonl"),
        JsonlWriter(tmp_path / "missing" / "b.jsonl"),
        JsonlWriter(tmp_path / "c.jsonl"),
    ]
    async with contextlib.AsyncExitStack() as stack:
        with pytest.raises(StoreError, match=r"cannot write .*missing/b\.jsonl"):
            await JsonlWriter.start_all(writers, stack)
    assert len(os.listdir("/proc/self/fd")) == before
    assert not (tmp_path / "c.jsonl").exists()
