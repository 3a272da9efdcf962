"""`InteractionStorage`: the spec's incremental store, on a run directory's records.jsonl.

The engine writes `records.jsonl` (one interaction per line, `id` added); this class
reads that same file, and when used standalone (as in the spec's examples) appends to it
and keeps the spec's `index.json` up to date.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import orjson

from asyncgen.errors import StoreError
from asyncgen.interaction.jsonl import objects
from asyncgen.interaction.records import Interaction, iso, utc_now

RECORDS_FILE = "records.jsonl"
INDEX_FILE = "index.json"
# index.json is rewritten on every save while it is small, then at most once a second
# (and on `flush`): rewriting it per save would cost O(n²) bytes over a large batch.
EAGER_INDEX_ENTRIES = 256
INDEX_INTERVAL = 1.0


class InteractionStorage:
    """Saves each interaction immediately (one flushed JSON line) with index tracking."""

    def __init__(self, output_dir: str | Path, collector: Any = None) -> None:
        """Open (and create) a storage directory.

        Args:
            output_dir: a run directory or any folder for interactions.
            collector: optional `TrainingDataCollector`; each saved interaction is also
                converted and kept in `samples`.

        Raises:
            StoreError: the directory cannot be created.
        """
        self.output_dir = Path(output_dir)
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.output_dir}: cannot create ({exc.strerror})") from exc
        self.collector = collector
        self.samples: list[Any] = []
        self._lock = threading.Lock()
        self._index: list[dict[str, Any]] | None = None
        self._index_written = -INDEX_INTERVAL
        self._index_stale = False

    @property
    def records_path(self) -> Path:
        """The JSONL file holding the interactions."""
        return self.output_dir / RECORDS_FILE

    @property
    def index_path(self) -> Path:
        """The spec's index.json."""
        return self.output_dir / INDEX_FILE

    def save(self, interaction: Interaction | dict[str, Any]) -> str:
        """Append an interaction as one flushed line and update index.json.

        The line is in the file when this returns; index.json follows on every save up to
        256 entries, then at most once a second and on `flush` (it can be rebuilt from
        the records at any time, as `load_all` and a new `InteractionStorage` do).

        Returns:
            The path of the file now holding it.

        Raises:
            StoreError: the file cannot be written.
        """
        data = interaction.to_dict() if isinstance(interaction, Interaction) else dict(interaction)
        data.setdefault("id", data["interaction_id"])
        line = orjson.dumps(data) + b"\n"
        with self._lock:
            index = self._load_index()
            try:
                with self.records_path.open("ab") as handle:
                    handle.write(line)
                    handle.flush()
            except OSError as exc:
                raise StoreError(f"{self.records_path}: cannot append ({exc.strerror})") from exc
            index.append(self._entry(data))
            now = time.monotonic()
            if len(index) <= EAGER_INDEX_ENTRIES or now - self._index_written >= INDEX_INTERVAL:
                self._write_index(index)
                self._index_written, self._index_stale = now, False
            else:
                self._index_stale = True
        if self.collector is not None:
            self.samples.append(self.collector.interaction_to_training_sample(data))
        return str(self.records_path)

    async def asave(self, interaction: Interaction | dict[str, Any]) -> str:
        """`save` in a worker thread, for callers on an event loop."""
        return await anyio.to_thread.run_sync(self.save, interaction)

    async def aload(self, interaction_id: str) -> dict[str, Any]:
        """`load` in a worker thread."""
        return await anyio.to_thread.run_sync(self.load, interaction_id)

    async def aload_all(self) -> list[dict[str, Any]]:
        """`load_all` in a worker thread."""
        return await anyio.to_thread.run_sync(self.load_all)

    def flush(self) -> None:
        """Bring index.json up to date with every saved interaction.

        Raises:
            StoreError: the index cannot be written.
        """
        with self._lock:
            if self._index_stale and self._index is not None:
                self._write_index(self._index)
                self._index_written, self._index_stale = time.monotonic(), False

    def load(self, interaction_id: str) -> dict[str, Any]:
        """One interaction by its `interaction_id` (or record `id`).

        Raises:
            StoreError: no such interaction in this directory.
        """
        for data in self._iter_records():
            if interaction_id in (data.get("interaction_id"), data.get("id")):
                return data
        raise StoreError(f"{self.output_dir}: no interaction {interaction_id!r}")

    def load_all(self) -> list[dict[str, Any]]:
        """Every stored interaction, in file order (a torn or corrupt line is logged, skipped)."""
        return list(self._iter_records())

    def _iter_records(self) -> Iterator[dict[str, Any]]:
        try:
            raw = self.records_path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"{self.records_path}: cannot read ({exc.strerror})") from exc
        for data in objects(self.records_path, raw):
            if "interaction_id" in data:
                yield data

    def _entry(self, data: dict[str, Any]) -> dict[str, Any]:
        meta = data.get("metadata") or {}
        return {
            "interaction_id": data["interaction_id"],
            "persona_id": data.get("persona_id"),
            "filepath": str(self.records_path),
            "num_turns": data.get("num_turns"),
            "created_at": meta.get("created_at"),
            "query_id": meta.get("query_id"),
        }

    def _load_index(self) -> list[dict[str, Any]]:
        if self._index is None:
            self._index = [self._entry(d) for d in self._iter_records()]
        return self._index

    def _write_index(self, entries: list[dict[str, Any]]) -> None:
        body = {"interactions": entries, "count": len(entries), "last_updated": iso(utc_now())}
        atomic_write(self.index_path, orjson.dumps(body, option=orjson.OPT_INDENT_2))


def atomic_write(path: Path, content: bytes) -> None:
    """Write a file via a temporary file and a rename (never a half file under `path`).

    Raises:
        StoreError: the file cannot be written.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write ({exc.strerror})") from exc
