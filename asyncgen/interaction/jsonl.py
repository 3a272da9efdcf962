"""Small JSONL helpers for the stage files (personas.jsonl, queries.jsonl)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import StoreError
from asyncgen.store.jsonl import repair_tail

log = logging.getLogger("asyncgen.interaction")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every object line of a stage file; a torn last line is cut off so appends stay whole.

    Raises:
        StoreError: the file cannot be read or repaired.
    """
    try:
        dropped = repair_tail(path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot repair a torn line ({exc.strerror})") from exc
    if dropped:
        log.warning("%s: dropping a torn last line", path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from exc
    return list(objects(path, raw))


def objects(path: Path, raw: bytes) -> Iterator[dict[str, Any]]:
    """The JSON objects among the lines of `raw` (read from `path`); corrupt lines are skipped.

    A line that is not valid JSON is logged with its file and line number.
    """
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("%s:%d: corrupt line skipped", path, number)
            continue
        if isinstance(row, dict):
            yield row


def append_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append rows as whole lines in one write, flushed and fsynced.

    Raises:
        StoreError: the file cannot be written.
    """
    blob = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    if not blob:
        return
    try:
        with path.open("ab") as handle:
            handle.write(blob)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise StoreError(f"{path}: cannot append ({exc.strerror})") from exc
