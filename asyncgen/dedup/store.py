"""The gate's state in the run directory: FAISS index, ids, hashes and what made them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from asyncgen.dedup.hashes import HashSet
from asyncgen.dedup.index import VectorIndex
from asyncgen.errors import StoreError
from asyncgen.store.atomic import atomic_path, write_bytes_atomic
from asyncgen.store.rundir import RunLayout

log = logging.getLogger(__name__)

INDEX_FILE = "index.faiss"
IDS_FILE = "ids.json"
HASHES_FILE = "hashes.json"
META_FILE = "meta.json"


@dataclass
class SavedState:
    """What a previous process saved: index rows, their ids, their text hashes, and meta."""

    index: VectorIndex
    hashes: list[str]
    meta: dict[str, Any] = field(default_factory=dict)


def state_dir(run_dir: Path) -> Path:
    """`<run_dir>/dedup`, where the gate keeps its files."""
    return RunLayout.in_dir(Path(run_dir)).dedup


def save_state(run_dir: Path, index: VectorIndex, hashes: list[str], meta: dict[str, Any]) -> None:
    """Write index, ids, hashes, then meta (the commit point), each temp-then-rename.

    A crash between files leaves counts that disagree with meta.json; `load_state`
    notices and the gate rebuilds from the records instead.
    """
    folder = state_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / INDEX_FILE) as temp:
        index.write(temp)
    write_bytes_atomic(folder / IDS_FILE, orjson.dumps(index.ids))
    HashSet(hashes).save(folder / HASHES_FILE)
    full = {**meta, "count": len(index), "index_kind": index.kind}
    write_bytes_atomic(folder / META_FILE, orjson.dumps(full, option=orjson.OPT_INDENT_2))


def read_meta(run_dir: Path) -> dict[str, Any] | None:
    """The saved meta.json, or None when there is none."""
    path = state_dir(run_dir) / META_FILE
    if not path.exists():
        return None
    meta = orjson.loads(path.read_bytes())
    return meta if isinstance(meta, dict) else None


def load_state(run_dir: Path, *, approximate_after: int, hnsw_m: int) -> SavedState | None:
    """Read the saved state; None when absent or inconsistent (then rebuild from records)."""
    folder = state_dir(run_dir)
    try:
        meta = read_meta(run_dir)
        if meta is None:
            return None
        ids = orjson.loads((folder / IDS_FILE).read_bytes())
        hashes = list(HashSet.load(folder / HASHES_FILE))
        if not (len(ids) == len(hashes) == meta.get("count")):
            raise StoreError("ids, hashes and meta.json disagree on the count")
        index = VectorIndex.read(
            folder / INDEX_FILE, ids, approximate_after=approximate_after, hnsw_m=hnsw_m
        )
    except (OSError, StoreError, orjson.JSONDecodeError) as exc:
        log.warning("dedup state in %s unusable (%s); rebuilding from records", folder, exc)
        return None
    return SavedState(index=index, hashes=hashes, meta=meta)
