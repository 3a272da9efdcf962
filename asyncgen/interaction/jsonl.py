"""The stage files (personas.jsonl, queries.jsonl): read after cutting a torn tail, appended
whole. Reading goes through the store's one JSONL reader (a bad line mid-file is an error)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import StoreError
from asyncgen.store.jsonl import read_jsonl as read_lines
from asyncgen.store.jsonl import repair_tail

log = logging.getLogger("asyncgen.interaction")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every object line of a stage file; a torn last line is cut off so appends stay whole.

    Raises:
        StoreError: the file cannot be read or repaired, or a complete line is not an object.
    """
    try:
        dropped = repair_tail(path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot repair a torn line ({exc.strerror})") from exc
    if dropped:
        log.warning("%s: dropping a torn last line", path)
    try:
        return read_lines(path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from exc


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
