"""The spec's export files: the hash file (JSON list) and the embeddings file (.npy)."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson

from asyncgen.dedup.hashes import HashSet
from asyncgen.dedup.index import VectorIndex
from asyncgen.dedup.store import HASHES_FILE, IDS_FILE, INDEX_FILE, read_meta, state_dir
from asyncgen.errors import StoreError
from asyncgen.store.atomic import write_bytes_atomic

log = logging.getLogger(__name__)


def _require_state(run_dir: Path) -> dict[str, object]:
    """The saved meta of a run's gate; StoreError when the run has none."""
    meta = read_meta(Path(run_dir))
    if meta is None:
        raise StoreError(f"{run_dir} has no dedup state (was dedup enabled?)")
    return meta


def export_hashes(run_dir: Path, path: Path) -> int:
    """Write the run's record hashes as the spec's hash file (a JSON list of hex digests).

    Args:
        run_dir: A run directory whose gate saved its state.
        path: Where to write, e.g. `dialogue_hashes.json`.

    Returns:
        How many hashes were written.

    Raises:
        StoreError: the run has no dedup state.
    """
    _require_state(run_dir)
    hashes = HashSet.load(state_dir(run_dir) / HASHES_FILE)
    hashes.save(Path(path))
    log.info("saved %d hashes to %s", len(hashes), path)
    return len(hashes)


def export_embeddings(run_dir: Path, path: Path, order: Sequence[str] | None = None) -> int:
    """Write the run's record embeddings as the spec's `.npy` file.

    Rows follow the gate's order (row i = ids.json[i]) unless `order` lists record ids:
    then row i is `order[i]`'s vector (ids without one are left out), so the file lines up
    with an export written in that order.

    Args:
        run_dir: A run directory whose gate saved its state.
        path: Where to write, e.g. `dialogue_embeddings.npy`.
        order: Record ids in the order the rows should follow.

    Returns:
        How many embeddings were written.

    Raises:
        StoreError: the run has no dedup state.
    """
    meta = _require_state(run_dir)
    count = int(str(meta.get("count", 0)))
    ids = [str(i) for i in range(count)]
    index = VectorIndex.read(
        state_dir(run_dir) / INDEX_FILE, ids, approximate_after=max(count, 1), hnsw_m=32
    )
    vectors = index.vectors()
    if order is not None:
        saved = orjson.loads((state_dir(run_dir) / IDS_FILE).read_bytes())
        row_of = {str(record_id): row for row, record_id in enumerate(saved[: len(vectors)])}
        rows = [row_of[i] for i in order if i in row_of]
        vectors = vectors[rows] if rows else vectors[:0]
        count = len(rows)
    buffer = io.BytesIO()
    np.save(buffer, vectors)
    write_bytes_atomic(Path(path), buffer.getvalue())
    log.info("saved %d embeddings to %s", count, path)
    return count
