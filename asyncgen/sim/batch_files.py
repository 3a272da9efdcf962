"""The simulator's `/v1/files` store: uploaded inputs and produced outputs, on disk.

Files live in a private temporary directory (a 100,000-request run uploads gigabytes
over its rounds; memory would not hold them) and are removed when the simulator stops.
The directory's name carries the simulator's pid; a simulator that was killed (SIGKILL
leaves no chance to clean up) has its directory removed by the next one that starts.
Uploads are spooled to disk as they arrive and the file part is cut out of the spool,
so an upload never sits in memory whole.
"""

from __future__ import annotations

import contextlib
import itertools
import mmap
import os
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncgen import offload

__all__ = ["FileStore", "SimFile", "UploadError", "clean_stale_dirs"]

PREFIX = "asyncgen-sim-files-"
COPY_CHUNK = 1 << 20
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_NAME = re.compile(rb'\bname="([^"]*)"')
_FILENAME = re.compile(rb'\bfilename="([^"]*)"')


class UploadError(ValueError):
    """The upload is not a multipart form with `file` and `purpose`; `param` names which."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class SimFile:
    """One stored file and the fields OpenAI's File object carries."""

    id: str
    filename: str
    purpose: str
    size: int
    created_at: int
    path: Path

    def to_dict(self) -> dict[str, Any]:
        """OpenAI's File object."""
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.size,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


class FileStore:
    """Files by id, their content in a temporary directory."""

    def __init__(self) -> None:
        clean_stale_dirs()
        self.root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
        self.files: dict[str, SimFile] = {}
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        """A fresh file id in OpenAI's shape."""
        return f"file-sim{next(self._ids):012d}"

    async def receive(self, content_type: str, chunks: AsyncIterator[bytes]) -> SimFile:
        """Store a `multipart/form-data` upload: spool it to disk as it arrives, then cut
        the `file` part out of the spool (off the loop).

        Raises:
            UploadError: not multipart, or `file` or `purpose` missing.
        """
        found = _BOUNDARY.search(content_type)
        if not content_type.startswith("multipart/form-data") or found is None:
            raise UploadError("Expected a multipart/form-data upload with 'file' and 'purpose'.")
        file_id = self.new_id()
        spool, path = self.root / f"{file_id}.upload", self.root / file_id
        handle = await offload.to_thread(spool.open, "wb")
        try:
            async for chunk in chunks:
                await offload.to_thread(handle.write, chunk)
        finally:
            await offload.to_thread(handle.close)
        try:
            filename, purpose = await offload.to_thread(
                _cut_file_part, spool, found[1].encode("latin-1"), path
            )
        except UploadError:
            path.unlink(missing_ok=True)
            raise
        finally:
            spool.unlink(missing_ok=True)
        return self.add(file_id, path, filename, purpose)

    async def chunks(self, file_id: str) -> AsyncIterator[bytes]:
        """The content of a stored file, a chunk at a time (read off the loop)."""
        handle = await offload.to_thread(self.files[file_id].path.open, "rb")
        try:
            while chunk := await offload.to_thread(handle.read, COPY_CHUNK):
                yield chunk
        finally:
            await offload.to_thread(handle.close)

    def add(self, file_id: str, path: Path, filename: str, purpose: str) -> SimFile:
        """Register a file already written at `path`."""
        entry = SimFile(file_id, filename, purpose, path.stat().st_size, int(time.time()), path)
        self.files[file_id] = entry
        return entry

    def path_for(self, file_id: str) -> Path:
        """Where a file about to be produced under `file_id` goes."""
        return self.root / file_id

    async def read(self, file_id: str) -> bytes:
        """The content of a stored file."""
        return await offload.to_thread(self.files[file_id].path.read_bytes)

    def delete(self, file_id: str) -> bool:
        """Forget a file and remove its content; False when unknown."""
        entry = self.files.pop(file_id, None)
        if entry is None:
            return False
        entry.path.unlink(missing_ok=True)
        return True

    def close(self) -> None:
        """Remove every file."""
        shutil.rmtree(self.root, ignore_errors=True)


def clean_stale_dirs() -> int:
    """Remove file stores of simulators that are gone (killed before they could clean
    up); the number removed."""
    removed = 0
    with contextlib.suppress(OSError):
        for entry in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
            pid = entry.name[len(PREFIX) :].split("-", 1)[0]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _cut_file_part(spool: Path, boundary: bytes, dest: Path) -> tuple[str, str]:
    """(filename, purpose) of a spooled multipart body; the `file` part copied to `dest`.

    Raises:
        UploadError: not a multipart body, or `file` or `purpose` missing.
    """
    filename, purpose, found_file = "upload.jsonl", None, False
    delimiter = b"--" + boundary
    if spool.stat().st_size == 0:
        raise UploadError("Missing required parameter: 'file'.", "file")
    with spool.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        at = m.find(delimiter)
        while at >= 0:
            at += len(delimiter)
            if m[at : at + 2] == b"--":
                break
            head_end = m.find(b"\r\n\r\n", at)
            end = m.find(b"\r\n" + delimiter, head_end + 4) if head_end >= 0 else -1
            if end < 0:
                raise UploadError("The multipart/form-data body is malformed.")
            head, start = m[at:head_end], head_end + 4
            name = _NAME.search(head)
            if name is not None and name[1] == b"file":
                found_file = True
                named = _FILENAME.search(head)
                filename = named[1].decode("utf-8", "replace") if named else filename
                with dest.open("wb") as out:
                    for offset in range(start, end, COPY_CHUNK):
                        out.write(m[offset : min(end, offset + COPY_CHUNK)])
            elif name is not None and name[1] == b"purpose":
                purpose = m[start:end].decode("utf-8", "replace").strip()
            at = end + 2
    if not found_file:
        raise UploadError("Missing required parameter: 'file'.", "file")
    if not purpose:
        raise UploadError("Missing required parameter: 'purpose'.", "purpose")
    return filename, purpose
