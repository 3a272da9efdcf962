"""Write files and folders under a temporary name and rename them into place.

A reader (or a crash) never sees a half-written file under the final name: content goes
to a hidden temporary sibling, is flushed and fsynced, and only then is renamed over the
final path with `os.replace`, which is atomic on one filesystem.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from asyncgen.errors import StoreError

TMP_MARK = ".tmp-"


def temp_sibling(final: Path) -> Path:
    """A hidden, unique temporary path next to `final` (same filesystem, so rename is atomic)."""
    return final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")


class AtomicFile:
    """A binary file that appears under its final name only when `commit` is called."""

    def __init__(self, final: Path) -> None:
        """Create the folder and the temporary file.

        Raises:
            StoreError: the folder cannot be created or written (names it and why).
        """
        self.final = final
        self.temp = temp_sibling(final)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            self.handle: IO[bytes] = self.temp.open("wb")
        except OSError as exc:
            raise StoreError(f"cannot write to {final.parent}: {_reason(exc)}") from exc

    def write(self, data: bytes) -> None:
        """Append bytes to the temporary file.

        Raises:
            StoreError: the disk is full or the write failed (names the file); the
                temporary file is dropped, as a half-written one is of no use.
        """
        try:
            self.handle.write(data)
        except OSError as exc:
            self.abort()
            raise StoreError(f"cannot write {self.final}: {_reason(exc)}") from exc

    def commit(self, *, sync_dir: bool = True) -> Path:
        """Flush, fsync and rename into place; returns the final path. With
        `sync_dir=False` the rename is durable only once the caller fsyncs the folder
        (one `fsync_dir` after several files in one folder).

        Raises:
            StoreError: the disk is full or the rename failed (names the file).
        """
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            os.replace(self.temp, self.final)
        except OSError as exc:
            self.abort()
            raise StoreError(f"cannot write {self.final}: {_reason(exc)}") from exc
        if sync_dir:
            fsync_dir(self.final.parent)
        return self.final

    def abort(self) -> None:
        """Drop the temporary file; the final name is untouched (never raises OSError: it
        runs while another error, often the same full disk, is on its way up)."""
        if not self.handle.closed:
            with contextlib.suppress(OSError):
                self.handle.close()
        with contextlib.suppress(OSError):
            self.temp.unlink(missing_ok=True)


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def write_bytes_atomic(final: Path, data: bytes, *, sync_dir: bool = True) -> Path:
    """Write a whole small file atomically (`sync_dir`: as in `AtomicFile.commit`).

    Raises:
        StoreError: the file cannot be written (names it and why).
    """
    try:
        target = AtomicFile(final)
        try:
            target.write(data)
        except BaseException:
            target.abort()
            raise
        return target.commit(sync_dir=sync_dir)
    except OSError as exc:
        raise StoreError(f"{final}: cannot write ({exc.strerror or exc})") from exc


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path for a writer that wants a file name (FAISS, numpy); on a clean
    exit it is fsynced and renamed to `final`, on an error removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_sibling(final)
    try:
        yield temp
        with temp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(final.parent)


def replace_dir(temp: Path, final: Path) -> Path:
    """Move a finished folder into place, replacing an older one without a half state."""
    old = None
    if final.exists():
        old = temp_sibling(final)
        os.replace(final, old)
    os.replace(temp, final)
    fsync_dir(final.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _is_stale(path: Path) -> bool:
    """Whether a temporary is ours (pid-marked name) and its process is gone."""
    try:
        pid = int(path.name.rsplit(TMP_MARK, 1)[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return False  # not a name we make: leave it alone
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_stale_temps(folder: Path) -> int:
    """Delete temporaries a crashed export left behind (not a live export's); returns how many."""
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob(f".*{TMP_MARK}*"):
        if not _is_stale(path):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


def fsync_dir(folder: Path) -> None:
    """Persist a rename by fsyncing its directory (best effort where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
