"""The spec's export files: the hash file (JSON list) and the embeddings file (.npy)."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

from asyncgen.dedup.hashes import HashSet, atomic_write_bytes
from asyncgen.dedup.index import VectorIndex
from asyncgen.dedup.store import HASHES_FILE, INDEX_FILE, read_meta, state_dir
from asyncgen.errors import StoreError

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


def export_embeddings(run_dir: Path, path: Path) -> int:
    """Write the run's record embeddings as the spec's `.npy` file (row i = ids.json[i]).

    Args:
        run_dir: A run directory whose gate saved its state.
        path: Where to write, e.g. `dialogue_embeddings.npy`.

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
    buffer = io.BytesIO()
    np.save(buffer, index.vectors())
    atomic_write_bytes(Path(path), buffer.getvalue())
    log.info("saved %d embeddings to %s", count, path)
    return count
