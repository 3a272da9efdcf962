"""One writer per run directory: an flock on `<run>/.asyncgen.lock` held for the whole run.

Two processes appending to one run duplicate ids and double every count, so the lock is
taken before anything is written. The kernel drops an flock when its holder dies (SIGKILL
included), so a lock file left by a killed run is simply taken over; the pid, host and
start time inside it only serve the message a second process prints.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from asyncgen.errors import RunLockedError, StoreError

LOCK_NAME = ".asyncgen.lock"
logger = logging.getLogger("asyncgen.store")


@dataclass
class _Held:
    fd: int
    count: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


def lock_path(run_dir: Path) -> Path:
    """The lock file of a run directory."""
    return run_dir / LOCK_NAME


def _holder_text(data: bytes) -> str:
    """`pid 123 on host, started 2026-…` from a lock file's content (or what is known)."""
    try:
        info = orjson.loads(data)
    except orjson.JSONDecodeError:
        return "pid unknown"
    if not isinstance(info, dict):
        return "pid unknown"
    text = f"pid {info.get('pid', '?')}"
    if info.get("host"):
        text += f" on {info['host']}"
    if info.get("started_at"):
        text += f", started {info['started_at']}"
    return text


def _read_fd(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)


def _stamp(fd: int) -> None:
    """Write this process's pid, host and start time into the (locked) file."""
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, orjson.dumps(info) + b"\n")


def acquire(run_dir: Path) -> str | None:
    """Take the run directory's lock (re-entrant within this process).

    Creates `run_dir` if needed. Returns who held it before and is gone (`pid 12 on
    host, started …`, for the log), or None.

    Raises:
        RunLockedError: another live process holds the lock.
        StoreError: the directory or lock file cannot be created.
    """
    key = run_dir.resolve()
    with _guard:
        held = _held.get(key)
        if held is not None:
            held.count += 1
            return None
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path(run_dir), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot write to {run_dir}: {exc.strerror or type(exc).__name__}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder_text(_read_fd(fd))
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLockedError(
                    f"{run_dir} is in use by another asyncgen process ({holder}); "
                    "wait for it to finish or stop it, or choose another --out"
                ) from exc
            raise StoreError(f"cannot lock {run_dir}: {exc.strerror}") from exc
        try:
            previous = _read_fd(fd)
            stale = _holder_text(previous) if previous.strip() else None
            if stale is not None:
                logger.info("taking over the lock of %s left by %s", run_dir, stale)
            _stamp(fd)
        except OSError as exc:
            os.close(fd)
            raise StoreError(
                f"cannot write to {run_dir}: {exc.strerror or type(exc).__name__}"
            ) from exc
        _held[key] = _Held(fd, 1)
        return stale


def release(run_dir: Path) -> None:
    """Give the lock back (the file stays; its content is stale once unlocked)."""
    key = run_dir.resolve()
    with _guard:
        held = _held.get(key)
        if held is None:
            return
        held.count -= 1
        if held.count > 0:
            return
        del _held[key]
        with contextlib.suppress(OSError):
            fcntl.flock(held.fd, fcntl.LOCK_UN)
        os.close(held.fd)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[str | None]:
    """Hold the run directory's lock for the block; yields `acquire`'s stale holder.

    Raises:
        RunLockedError: another live process holds it.
    """
    stale = acquire(run_dir)
    try:
        yield stale
    finally:
        release(run_dir)
