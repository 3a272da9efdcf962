"""`InteractionStorage`: the spec's incremental store, with its `index.json`.

Two layouts, both read by `load`/`load_all`: the spec's one JSON file per interaction
(`<interaction_id>.json`, the default for a new folder), and the engine's run directory,
whose `records.jsonl` holds one interaction per line (chosen when that file exists, so the
spec's API works on any run). Saving writes in the folder's layout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import orjson

from asyncgen import offload
from asyncgen.errors import StoreError
from asyncgen.interaction.records import Interaction, iso, utc_now
from asyncgen.store.atomic import write_bytes_atomic
from asyncgen.store.jsonl import iter_jsonl, parse_line
from asyncgen.store.rundir import INDEX_FILE, RECORDS_FILE

log = logging.getLogger(__name__)

# index.json is rewritten on every save while it is small, then at most once a second
# (and on `flush`): rewriting it per save would cost O(n²) bytes over a large batch.
EAGER_INDEX_ENTRIES = 256
INDEX_INTERVAL = 1.0
Layout = Literal["files", "jsonl"]


class InteractionStorage:
    """Saves each interaction immediately (its own file, or one flushed line) with an index."""

    def __init__(
        self, output_dir: str | Path, collector: Any = None, *, layout: Layout | None = None
    ) -> None:
        """Open (and create) a storage directory.

        Args:
            output_dir: a run directory or any folder for interactions.
            collector: optional `TrainingDataCollector`; each saved interaction is also
                converted and kept in `samples`.
            layout: "files" (one JSON file per interaction, the spec's) or "jsonl"
                (`records.jsonl`, the engine's); None picks "jsonl" when the folder
                already has a records.jsonl, else "files".

        Raises:
            StoreError: the directory cannot be created.
        """
        self.output_dir = Path(output_dir)
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.output_dir}: cannot create ({exc.strerror})") from exc
        self.collector = collector
        self.layout: Layout = layout or ("jsonl" if self.records_path.exists() else "files")
        self.samples: list[Any] = []
        self._lock = threading.Lock()
        self._index: list[dict[str, Any]] | None = None
        self._stored_ids: set[str] = set()
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
        """Write an interaction (its own file, or one flushed line) and update index.json.

        The line is in the file when this returns; index.json follows on every save up to
        256 entries, then at most once a second and on `flush` (it can be rebuilt from
        the records at any time, as `load_all` and a new `InteractionStorage` do).

        Returns:
            The path of the file now holding it.

        Raises:
            StoreError: the file cannot be written, or an interaction with this id is
                already stored (a second one would silently replace or shadow it).
        """
        data = interaction.to_dict() if isinstance(interaction, Interaction) else dict(interaction)
        data.setdefault("id", data["interaction_id"])
        with self._lock:
            index = self._load_index()
            interaction_id = str(data["interaction_id"])
            if interaction_id in self._stored_ids:
                raise StoreError(
                    f"{self.output_dir}: interaction {interaction_id!r} is already stored; "
                    "ids must be unique"
                )
            if self.layout == "files":
                path = self.file_for(str(data["interaction_id"]))
                write_bytes_atomic(path, orjson.dumps(data, option=orjson.OPT_INDENT_2))
            else:
                path = self.records_path
                self._append(orjson.dumps(data) + b"\n")
            index.append(self._entry(data, path))
            self._stored_ids.add(interaction_id)
            due = time.monotonic() - self._index_written >= INDEX_INTERVAL
            if len(index) <= EAGER_INDEX_ENTRIES or due:
                self._write_index(index)
            else:
                self._index_stale = True
        if self.collector is not None:
            self.samples.append(self.collector.interaction_to_training_sample(data))
        return str(path)

    def file_for(self, interaction_id: str) -> Path:
        """Where the files layout keeps one interaction."""
        return self.output_dir / f"{interaction_id}.json"

    def _append(self, line: bytes) -> None:
        try:
            with self.records_path.open("ab") as handle:
                handle.write(line)
                handle.flush()
        except OSError as exc:
            raise StoreError(f"{self.records_path}: cannot append ({exc.strerror})") from exc

    async def asave(self, interaction: Interaction | dict[str, Any]) -> str:
        """`save` in a worker thread, for callers on an event loop."""
        return await offload.to_thread(self.save, interaction)

    async def aload(self, interaction_id: str) -> dict[str, Any]:
        """`load` in a worker thread."""
        return await offload.to_thread(self.load, interaction_id)

    async def aload_all(self) -> list[dict[str, Any]]:
        """`load_all` in a worker thread."""
        return await offload.to_thread(self.load_all)

    def flush(self) -> None:
        """Bring index.json up to date with every saved interaction.

        Raises:
            StoreError: the index cannot be written.
        """
        with self._lock:
            if self._index_stale and self._index is not None:
                self._write_index(self._index)

    def load(self, interaction_id: str) -> dict[str, Any]:
        """One interaction by its `interaction_id` (or record `id`).

        Raises:
            StoreError: no such interaction in this directory.
        """
        direct = self.file_for(interaction_id)
        if direct.is_file():
            return self._read_file(direct)
        for data, _ in self._iter_records():
            if interaction_id in (data.get("interaction_id"), data.get("id")):
                return data
        raise StoreError(f"{self.output_dir}: no interaction {interaction_id!r}")

    def load_all(self) -> list[dict[str, Any]]:
        """Every stored interaction: records.jsonl in line order (a torn last line is logged
        and skipped, a bad line before it is a StoreError), then the per-interaction files."""
        return [data for data, _ in self._iter_records()]

    def _iter_records(self) -> Iterator[tuple[dict[str, Any], Path]]:
        try:
            for _, data in iter_jsonl(self.records_path):
                if "interaction_id" in data:
                    yield data, self.records_path
        except OSError as exc:
            raise StoreError(f"{self.records_path}: cannot read ({exc.strerror})") from exc
        for path in sorted(self.output_dir.glob("*.json")):
            if path.name == INDEX_FILE:
                continue
            try:
                data = self._read_file(path)
            except StoreError as exc:  # another kind of JSON file in the folder
                log.debug("skipping %s: %s", path, exc)
                continue
            if "interaction_id" in data:
                yield data, path

    @staticmethod
    def _read_file(path: Path) -> dict[str, Any]:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"{path}: cannot read ({exc.strerror})") from exc
        return parse_line(raw, str(path), expected="one interaction (a JSON object)")

    def _entry(self, data: dict[str, Any], path: Path) -> dict[str, Any]:
        meta = data.get("metadata") or {}
        return {
            "interaction_id": data["interaction_id"],
            "persona_id": data.get("persona_id"),
            "filepath": str(path),
            "num_turns": data.get("num_turns"),
            "created_at": meta.get("created_at"),
            "query_id": meta.get("query_id"),
        }

    def _load_index(self) -> list[dict[str, Any]]:
        if self._index is None:
            self._index = [self._entry(d, p) for d, p in self._iter_records()]
            self._stored_ids = {str(e["interaction_id"]) for e in self._index}
        return self._index

    def _write_index(self, entries: list[dict[str, Any]]) -> None:
        self._index_written, self._index_stale = time.monotonic(), False
        body = {"interactions": entries, "count": len(entries), "last_updated": iso(utc_now())}
        write_bytes_atomic(self.index_path, orjson.dumps(body, option=orjson.OPT_INDENT_2))
