"""index.json: the spec's interaction index, rebuilt from the records file by streaming.

Blocking file work: call `write_index` in a worker thread. Entries are streamed from the
records file to a temporary file (`AtomicFile`) and renamed into place, so memory stays flat
however many records the run holds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson

from asyncgen.contract import Record
from asyncgen.jsontypes import JsonObject
from asyncgen.store.atomic import AtomicFile
from asyncgen.store.jsonl import iter_jsonl

IndexEntry = Callable[[Record], JsonObject]


def write_index(records: Path, target: Path, key: str, entry: IndexEntry, updated: str) -> int:
    """Write `{key: [entry per record], "count": n, "last_updated": updated}`; return n."""
    out = AtomicFile(target)
    count = 0
    try:
        out.write(b"{\n  " + orjson.dumps(key) + b": [")
        for _, obj in iter_jsonl(records):
            record = Record(id=str(obj.get("id", "")), data=obj)
            out.write(b",\n    " if count else b"\n    ")
            out.write(orjson.dumps(entry(record), option=orjson.OPT_NON_STR_KEYS))
            count += 1
        out.write(b"\n  ],\n" if count else b"],\n")
        out.write(b'  "count": ' + orjson.dumps(count) + b",\n")
        out.write(b'  "last_updated": ' + orjson.dumps(updated) + b"\n}\n")
    except BaseException:
        out.abort()
        raise
    out.commit()
    return count
