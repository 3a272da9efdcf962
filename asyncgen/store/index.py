"""index.json: the spec's interaction index, rebuilt from the records file by streaming.

Blocking file work: call `write_index` through `asyncio.to_thread`. Entries are streamed
from the records file to a temporary file and renamed into place, so memory stays flat
however many records the run holds.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from asyncgen.contract import Record
from asyncgen.store.jsonl import iter_jsonl

IndexEntry = Callable[[Record], dict[str, Any]]


def write_index(records: Path, target: Path, key: str, entry: IndexEntry, updated: str) -> int:
    """Write `{key: [entry per record], "count": n, "last_updated": updated}`; return n."""
    tmp = target.with_name(f".{target.name}.tmp")
    count = 0
    with tmp.open("wb") as out:
        out.write(b"{\n  " + orjson.dumps(key) + b": [")
        for _, obj in iter_jsonl(records):
            record = Record(id=str(obj.get("id", "")), data=obj)
            out.write(b",\n    " if count else b"\n    ")
            out.write(orjson.dumps(entry(record), option=orjson.OPT_NON_STR_KEYS))
            count += 1
        out.write(b"\n  ],\n" if count else b"],\n")
        tail = {"count": count, "last_updated": updated}
        out.write(b'  "count": ' + orjson.dumps(tail["count"]) + b",\n")
        out.write(b'  "last_updated": ' + orjson.dumps(tail["last_updated"]) + b"\n}\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)
    return count
