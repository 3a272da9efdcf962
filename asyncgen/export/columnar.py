"""Parquet and Hugging Face `datasets` output, written in bounded batches.

Dict-valued fields (persona features, noisy versions, metadata) have no fixed schema, so
they are stored as JSON text; the conversation columns are typed lists of
``{role, content}`` structs, and `messages` carries the system message when configured.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from asyncgen.errors import ConfigError
from asyncgen.export.formats import chat_messages
from asyncgen.export.sample import TrainingSample
from asyncgen.store.atomic import fsync_dir, replace_dir, temp_sibling

_MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
SCHEMA = pa.schema(
    [
        ("sample_id", pa.string()),
        ("persona_id", pa.string()),
        ("persona_features", pa.string()),
        ("original_query", pa.string()),
        ("initial_query", pa.string()),
        ("prompt_trajectory", pa.list_(pa.string())),
        ("full_conversation", pa.list_(_MESSAGE)),
        ("messages", pa.list_(_MESSAGE)),
        ("num_turns", pa.int32()),
        ("noisy_initial_queries", pa.string()),
        ("metadata", pa.string()),
    ]
)
JSON_COLUMNS = ("persona_features", "noisy_initial_queries", "metadata")


def sample_row(sample: TrainingSample, system_prompt: str | None) -> dict[str, Any]:
    """One sample as a row of `SCHEMA`."""
    row = sample.to_dict()
    for name in JSON_COLUMNS:
        row[name] = orjson.dumps(row[name]).decode()
    row["messages"] = chat_messages(sample, system_prompt)
    return row


def row_sample(row: dict[str, Any]) -> TrainingSample:
    """The sample a `SCHEMA` row holds (the inverse of `sample_row`)."""
    data = {k: v for k, v in row.items() if k != "messages"}
    for name in JSON_COLUMNS:
        data[name] = orjson.loads(data[name])
    return TrainingSample.from_dict(data)


class _Batches:
    """Rows buffered up to `batch_size`, then handed to `flush` as one table."""

    def __init__(self, system_prompt: str | None, batch_size: int) -> None:
        self._rows: list[dict[str, Any]] = []
        self._system = system_prompt
        self._size = batch_size

    def add(self, sample: TrainingSample) -> pa.Table | None:
        self._rows.append(sample_row(sample, self._system))
        return self.take() if len(self._rows) >= self._size else None

    def take(self) -> pa.Table | None:
        if not self._rows:
            return None
        table = pa.Table.from_pylist(self._rows, schema=SCHEMA)
        self._rows = []
        return table


class ParquetSampleWriter:
    """One Parquet file per split through `pq.ParquetWriter`, a row group per batch."""

    def __init__(self, final: Path, system_prompt: str | None, batch_size: int) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        self.final = final
        self._temp = temp_sibling(final)
        self._writer = pq.ParquetWriter(str(self._temp), SCHEMA, compression="zstd")
        self._batches = _Batches(system_prompt, batch_size)

    def write(self, sample: TrainingSample) -> None:
        """Buffer one row; write a row group when the batch is full."""
        table = self._batches.add(sample)
        if table is not None:
            self._writer.write_table(table)

    def commit(self) -> Path:
        """Write the last batch, close, fsync and rename into place."""
        table = self._batches.take()
        if table is not None:
            self._writer.write_table(table)
        self._writer.close()
        with self._temp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(self._temp, self.final)
        fsync_dir(self.final.parent)
        return self.final

    def abort(self) -> None:
        """Close and drop the temporary file."""
        self._writer.close()
        self._temp.unlink(missing_ok=True)


def require_datasets() -> Any:
    """The `datasets` module, or a clear error naming the extra to install.

    Raises:
        ConfigError: `datasets` is not installed.
    """
    try:
        import datasets
    except ImportError as exc:
        raise ConfigError(
            "format 'hf' needs the optional extra: pip install 'asyncgen[hf]' (datasets)"
        ) from exc
    return datasets


_PLACEHOLDER: dict[str, Any] = dict.fromkeys(SCHEMA.names, "") | {
    "prompt_trajectory": [],
    "full_conversation": [],
    "messages": [],
    "num_turns": 0,
}


class HFDatasetBuilder:
    """A `DatasetDict` folder (`load_from_disk`) whose Arrow files are streamed in batches.

    `datasets` writes the folder's layout and metadata for a one-row dataset of our schema
    (so the files match the installed version); each split's data file is then replaced
    by the one streamed here, batch by batch, so memory stays flat at any size.
    """

    def __init__(
        self, final: Path, splits: tuple[str, ...], system_prompt: str | None, batch_size: int
    ) -> None:
        datasets = require_datasets()
        from datasets.table import InMemoryTable

        self.final = final
        self._work = temp_sibling(final)
        # One placeholder row, so `datasets` writes a data file for each split; it is replaced.
        placeholder = InMemoryTable(pa.Table.from_pylist([_PLACEHOLDER], schema=SCHEMA))
        layout = {
            split: datasets.Dataset(placeholder, split=datasets.NamedSplit(split))
            for split in splits
        }
        _quiet_save(datasets.DatasetDict(layout), self._work)
        self._writers = {
            split: _HFSplitWriter(self._work / split, _Batches(system_prompt, batch_size))
            for split in splits
        }

    def split_writer(self, split: str) -> _HFSplitWriter:
        """The writer of one split."""
        return self._writers[split]

    def commit(self) -> Path:
        """Finish every split's data file and rename the folder into place."""
        for writer in self._writers.values():
            writer.finish()
        return replace_dir(self._work, self.final)

    def abort(self) -> None:
        """Drop the work folder."""
        for writer in self._writers.values():
            writer.close()
        shutil.rmtree(self._work, ignore_errors=True)


def _quiet_save(dataset: Any, out: Path) -> None:
    """`save_to_disk` without its progress bars (restored afterwards)."""
    datasets = require_datasets()
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        dataset.save_to_disk(str(out))
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


class _HFSplitWriter:
    """Streams one split's rows into the Arrow stream file `datasets` reads for it."""

    def __init__(self, folder: Path, batches: _Batches) -> None:
        state = orjson.loads((folder / "state.json").read_bytes())
        self._folder = folder
        self._data = folder / state["_data_files"][0]["filename"]
        with pa.OSFile(str(self._data)) as source:
            self._schema = pa.ipc.open_stream(source).schema
        self._partial = temp_sibling(self._data)
        self._sink = pa.ipc.new_stream(str(self._partial), self._schema)
        self._batches = batches
        self._digest = hashlib.blake2b(digest_size=8)

    def write(self, sample: TrainingSample) -> None:
        """Buffer one row; write a record batch when full."""
        self._digest.update(sample.sample_id.encode())
        self._put(self._batches.add(sample))

    def _put(self, table: pa.Table | None) -> None:
        if table is not None:
            self._sink.write_table(table.replace_schema_metadata(self._schema.metadata))

    def finish(self) -> None:
        """Write the last batch, put the data file in place, fingerprint it by content."""
        self._put(self._batches.take())
        self._sink.close()
        os.replace(self._partial, self._data)
        state_path = self._folder / "state.json"
        state = orjson.loads(state_path.read_bytes())
        state["_fingerprint"] = self._digest.hexdigest()
        state_path.write_bytes(orjson.dumps(state, option=orjson.OPT_INDENT_2))

    def close(self) -> None:
        """Close the stream without finishing it."""
        try:
            self._sink.close()
        except (OSError, pa.ArrowException):
            pass
