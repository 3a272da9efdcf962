"""The simulator's `/v1/files` store: uploaded inputs and produced outputs, on disk.

Files live in a private temporary directory (a 100,000-request run uploads gigabytes
over its rounds; memory would not hold them) and are removed when the simulator stops.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

from asyncgen import offload

__all__ = ["FileStore", "SimFile", "UploadError", "parse_upload"]


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
        self.root = Path(tempfile.mkdtemp(prefix="asyncgen-sim-files-"))
        self.files: dict[str, SimFile] = {}
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        """A fresh file id in OpenAI's shape."""
        return f"file-sim{next(self._ids):012d}"

    async def put(self, content: bytes, filename: str, purpose: str) -> SimFile:
        """Store `content` (written off the loop) and describe it."""
        file_id = self.new_id()
        path = self.root / file_id
        await offload.to_thread(path.write_bytes, content)
        return self.add(file_id, path, filename, purpose)

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


def parse_upload(content_type: str, body: bytes) -> tuple[str, bytes, str]:
    """(filename, content, purpose) from a `multipart/form-data` upload.

    Raises:
        UploadError: not multipart, or `file` or `purpose` missing.
    """
    if not content_type.startswith("multipart/form-data"):
        raise UploadError("Expected a multipart/form-data upload with 'file' and 'purpose'.")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    filename, content, purpose = "upload.jsonl", None, None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        if name == "file":
            filename = part.get_filename() or filename
            content = payload
        elif name == "purpose":
            purpose = payload.decode("utf-8").strip()
    if content is None:
        raise UploadError("Missing required parameter: 'file'.", "file")
    if not purpose:
        raise UploadError("Missing required parameter: 'purpose'.", "purpose")
    return filename, content, purpose
