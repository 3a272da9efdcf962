"""Read rows of a local dataset: a Hugging Face save_to_disk folder, Parquet, JSON or JSONL.

Personas and the base dialogues of `asyncgen.dialogue` both come in these shapes; this
module turns a path into (file, row number, row dict) triples and leaves the schema to
its callers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from asyncgen.errors import DatasetError
from asyncgen.store.jsonl import parse_line

Row = tuple[str, int, dict[str, Any]]
T = TypeVar("T")

HF_MARKERS = ("dataset_dict.json", "state.json", "dataset_info.json")
log = logging.getLogger(__name__)


def load_table(
    target: Path,
    split: str,
    parse: Callable[[Row], T],
    *,
    what: str,
    columns: Sequence[str] | None = None,
) -> list[T]:
    """Every row of `target` through `parse`; a table without rows is an error, not a no-op.

    Raises:
        DatasetError: unreadable file, a row `parse` refuses, or no rows ("... has no `what`").
    """
    items = [parse(row) for row in read_rows(target, split, columns=columns)]
    if not items:
        raise DatasetError(f"{target}: dataset has no {what}")
    log.info("loaded %d %s from %s", len(items), what, target)
    return items


def field_error(row: Row, name: str, problem: str) -> DatasetError:
    """The error for one bad field, naming the file, row and field at fault."""
    source, number, _ = row
    return DatasetError(f"{source}: row {number}: field {name!r}: {problem}")


def read_rows(
    path: str | Path, split: str = "train", columns: Sequence[str] | None = None
) -> list[Row]:
    """Every row of the dataset at `path`, tagged with its file and row number.

    Args:
        path: a save_to_disk folder, a folder of Parquet/JSON(L) files, or one such file.
        split: the split read from a DatasetDict, a split-keyed JSON or a split-named file.
        columns: keep only these fields (those present). Parquet and save_to_disk folders
            then never load the others: FinePersonas carries 1,024-float embeddings per
            row, several GB as Python objects over 100k rows.

    Raises:
        DatasetError: the path is missing, of an unknown kind, or not readable.
    """
    target = Path(path)
    if not target.exists():
        raise DatasetError(f"{target}: dataset path does not exist")
    if target.is_dir():
        return _read_dir(target, split, columns)
    return _read_file(target, split, columns)


def _read_dir(folder: Path, split: str, columns: Sequence[str] | None) -> list[Row]:
    if any((folder / marker).is_file() for marker in HF_MARKERS):
        return _read_hf(folder, split, columns)
    files = sorted(
        p for p in folder.rglob("*") if p.suffix in {".parquet", ".jsonl", ".json"} and p.is_file()
    )
    files = [p for p in files if p.name not in HF_MARKERS]
    named = [p for p in files if p.name.startswith(split) or p.parent.name == split]
    chosen = named or files
    if not chosen:
        raise DatasetError(f"{folder}: no save_to_disk dataset, Parquet, JSON or JSONL files")
    rows: list[Row] = []
    for file in chosen:
        rows.extend(_read_file(file, split, columns))
    return rows


def _read_file(file: Path, split: str, columns: Sequence[str] | None) -> list[Row]:
    suffix = file.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(file, columns)
    if suffix == ".jsonl":
        return _only(list(_read_jsonl(file)), columns)
    if suffix == ".json":
        return _only(_read_json(file, split), columns)
    raise DatasetError(f"{file}: unknown dataset format (use a folder, .parquet, .json or .jsonl)")


def _only(rows: list[Row], columns: Sequence[str] | None) -> list[Row]:
    if columns is None:
        return rows
    return [(src, i, {k: row[k] for k in columns if k in row}) for src, i, row in rows]


def _read_parquet(file: Path, columns: Sequence[str] | None) -> list[Row]:
    import pyarrow.parquet as pq

    try:
        if columns is not None:
            present = set(pq.read_schema(file).names)
            table = pq.read_table(file, columns=[c for c in columns if c in present])
        else:
            table = pq.read_table(file)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{file}: not a readable Parquet file ({_one_line(exc)})") from exc
    return [(str(file), i, row) for i, row in enumerate(table.to_pylist())]


def _read_jsonl(file: Path) -> Iterator[Row]:
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if not line.strip():
                continue
            yield (str(file), number, parse_line(line, f"{file}: row {number}", DatasetError))


def _read_json(file: Path, split: str) -> list[Row]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{file}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if isinstance(data, dict):
        if split in data:
            data = data[split]
        elif "data" in data:
            data = data["data"]
        else:
            data = [data]
    if not isinstance(data, list):
        raise DatasetError(f"{file}: expected a list of rows or a split-keyed object")
    rows: list[Row] = []
    for number, row in enumerate(data):
        if not isinstance(row, dict):
            raise DatasetError(f"{file}: row {number}: expected a JSON object")
        rows.append((str(file), number, row))
    return rows


def _read_hf(folder: Path, split: str, columns: Sequence[str] | None) -> list[Row]:
    """A `save_to_disk` folder, through the optional `datasets` package."""
    try:
        import datasets
    except ImportError as exc:
        raise DatasetError(
            f"{folder}: reading a Hugging Face save_to_disk folder needs the optional "
            "'datasets' package (pip install 'asyncgen[hf]'), or export it to Parquet/JSONL"
        ) from exc
    try:
        loaded = datasets.load_from_disk(str(folder))
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise DatasetError(f"{folder}: not a readable save_to_disk dataset ({exc})") from exc
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            names = ", ".join(sorted(loaded))
            raise DatasetError(f"{folder}: no split {split!r} (has {names})")
        loaded = loaded[split]
    if columns is not None:
        loaded = loaded.select_columns([c for c in columns if c in loaded.column_names])
    source = str(folder / split) if (folder / split).is_dir() else str(folder)
    return [(source, i, dict(row)) for i, row in enumerate(loaded)]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
