"""`InteractionStorage`: the spec's store over one folder, with its `index.json`.

The folder holds two kinds of interaction, read together by `load`/`load_all`: the
spec's one JSON file per interaction (`<interaction_id>.json`, what `save` writes), and
engine runs, whose `records.jsonl` the engine wrote: the folder itself when it is a run
directory, and one subdirectory per `generate_interactions_batch` call. The storage
never writes records into a run; index.json is its view of everything in the folder.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from asyncgen import offload
from asyncgen.errors import StoreError
from asyncgen.interaction.records import Interaction, index_entry, iso, utc_now
from asyncgen.store.atomic import write_bytes_atomic
from asyncgen.store.jsonl import iter_jsonl, parse_line
from asyncgen.store.rundir import INDEX_FILE, RunLayout

log = logging.getLogger(__name__)

# index.json is rewritten on every save while it is small, then at most once a second
# (and on `flush`): rewriting it per save would cost O(n²) bytes over many saves.
EAGER_INDEX_ENTRIES = 256
INDEX_INTERVAL = 1.0


class InteractionStorage:
    """Saves each interaction immediately in its own file, and indexes the folder's runs."""

    def __init__(self, output_dir: str | Path, collector: Any = None) -> None:
        """Open (and create) a storage directory.

        Args:
            output_dir: any folder for interactions, or a run directory.
            collector: optional `TrainingDataCollector`; each saved or adopted
                interaction is also converted and kept in `samples`.

        Raises:
            StoreError: the directory cannot be created. Opened on a running event loop,
                the directory is made by the first file call instead (`asave`, `aload`…
                run in a worker thread), so opening never blocks the loop.
        """
        self.output_dir = Path(output_dir)
        self._dir_ready = False
        if not _on_event_loop():
            self._ensure_dir()
        self.collector = collector
        self.samples: list[Any] = []
        self._lock = threading.Lock()
        self._index: list[dict[str, Any]] | None = None
        self._stored_ids: set[str] = set()
        self._index_written = -INDEX_INTERVAL
        self._index_stale = False

    def _ensure_dir(self) -> None:
        """Create the folder once (idempotent, so threads may race on it)."""
        if self._dir_ready:
            return
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.output_dir}: cannot create ({exc.strerror})") from exc
        self._dir_ready = True

    @property
    def index_path(self) -> Path:
        """The spec's index.json."""
        return self.output_dir / INDEX_FILE

    def save(self, interaction: Interaction | dict[str, Any]) -> str:
        """Write an interaction to its own file and update index.json.

        The file is complete when this returns; index.json follows on every save up to
        256 entries, then at most once a second and on `flush` (it is rebuilt from the
        folder whenever a storage opens it).

        Returns:
            The path of the file now holding it.

        Raises:
            StoreError: the file cannot be written, or an interaction with this id is
                already stored (a second one would silently replace or shadow it).
        """
        data = interaction.to_dict() if isinstance(interaction, Interaction) else dict(interaction)
        data.setdefault("id", data["interaction_id"])
        interaction_id = str(data["interaction_id"])
        with self._lock:
            index = self._load_index()
            self._refuse_stored([interaction_id])
            path = self.file_for(interaction_id)
            write_bytes_atomic(path, orjson.dumps(data, option=orjson.OPT_INDENT_2))
            index.append(index_entry(data, str(path)))
            self._stored_ids.add(interaction_id)
            due = time.monotonic() - self._index_written >= INDEX_INTERVAL
            if len(index) <= EAGER_INDEX_ENTRIES or due:
                self._write_index(index)
            else:
                self._index_stale = True
        self._collect([data])
        return str(path)

    def adopt_run(self, run_dir: Path) -> int:
        """Index a finished run inside this folder (a batch's) and write index.json.

        Returns:
            The number of interactions it holds.

        Raises:
            StoreError: the run holds an id this storage already had, or index.json
                cannot be written.
        """
        records = RunLayout.in_dir(run_dir).records
        rows = list(self._read_run(records))
        ids = [str(data["interaction_id"]) for data in rows]
        with self._lock:
            if self._index is None:  # read from the folder now: the run is in it already
                index = self._load_index()
                counts = Counter(str(entry["interaction_id"]) for entry in index)
                self._refuse_stored([i for i in ids if counts[i] > 1])
            else:
                index = self._index
                self._refuse_stored(ids)
                index.extend(index_entry(data, str(records)) for data in rows)
                self._stored_ids.update(ids)
            self._write_index(index)
        self._collect(rows)
        return len(rows)

    def file_for(self, interaction_id: str) -> Path:
        """Where `save` keeps one interaction."""
        return self.output_dir / f"{interaction_id}.json"

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
        """Every stored interaction: the folder's own records.jsonl, each run subdirectory's
        (by name, so batches in the order they ran), then the per-interaction files. A torn
        last line is logged and skipped; a bad line before it is a StoreError."""
        return [data for data, _ in self._iter_records()]

    def _iter_records(self) -> Iterator[tuple[dict[str, Any], Path]]:
        self._ensure_dir()
        runs = [self.output_dir, *sorted(p for p in self.output_dir.iterdir() if p.is_dir())]
        for run_dir in runs:
            records = RunLayout.in_dir(run_dir).records
            for data in self._read_run(records):
                yield data, records
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
    def _read_run(records: Path) -> Iterator[dict[str, Any]]:
        """The interactions of one run's records file (none when it has no such file)."""
        try:
            for _, data in iter_jsonl(records):
                if "interaction_id" in data:
                    yield data
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"{records}: cannot read ({exc.strerror})") from exc

    @staticmethod
    def _read_file(path: Path) -> dict[str, Any]:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"{path}: cannot read ({exc.strerror})") from exc
        return parse_line(raw, str(path), expected="one interaction (a JSON object)")

    def _refuse_stored(self, ids: list[str]) -> None:
        taken = [i for i in ids if i in self._stored_ids]
        if taken:
            raise StoreError(
                f"{self.output_dir}: interaction {taken[0]!r} is already stored; ids must be unique"
            )

    def _collect(self, rows: list[dict[str, Any]]) -> None:
        if self.collector is not None:
            self.samples.extend(self.collector.interaction_to_training_sample(r) for r in rows)

    def _load_index(self) -> list[dict[str, Any]]:
        if self._index is None:
            self._index = [index_entry(d, str(p)) for d, p in self._iter_records()]
            self._stored_ids = {str(e["interaction_id"]) for e in self._index}
        return self._index

    def _write_index(self, entries: list[dict[str, Any]]) -> None:
        self._ensure_dir()
        self._index_written, self._index_stale = time.monotonic(), False
        body = {"interactions": entries, "count": len(entries), "last_updated": iso(utc_now())}
        write_bytes_atomic(self.index_path, orjson.dumps(body, option=orjson.OPT_INDENT_2))


def _on_event_loop() -> bool:
    """True when called from a thread running an event loop (where blocking is not ok)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
