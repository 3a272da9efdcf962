"""Small JSONL helpers for the stage files (personas.jsonl, queries.jsonl)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import StoreError

log = logging.getLogger("asyncgen.interaction")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every object line of a stage file; a torn last line is cut off so appends stay whole.

    Raises:
        StoreError: the file cannot be read or repaired.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise StoreError(f"{path}: cannot read ({exc.strerror})") from exc
    if raw and not raw.endswith(b"\n"):
        keep = raw.rfind(b"\n") + 1
        log.warning("%s: dropping a torn last line", path)
        _truncate(path, keep)
        raw = raw[:keep]
    rows = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            log.warning("%s:%d: corrupt line skipped", path, number)
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


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


def _truncate(path: Path, size: int) -> None:
    try:
        with path.open("r+b") as handle:
            handle.truncate(size)
    except OSError as exc:
        raise StoreError(f"{path}: cannot repair a torn line ({exc.strerror})") from exc
