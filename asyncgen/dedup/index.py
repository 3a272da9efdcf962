"""A FAISS inner-product index over unit vectors: exact while small, HNSW past a size.

Not thread-safe by design: one owner (the gate's worker task) calls it, always from a
worker thread, one call at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from asyncgen.errors import StoreError

#: HNSW construction and search breadth; efSearch trades speed for recall (docs/benchmarks.md).
EF_CONSTRUCTION = 40
EF_SEARCH = 96
#: Past this many vectors HNSW searches wider (at 1M, efSearch 96 → 384 raised decisions
#: matching exact search from 96.2 % to 98.5 % on hard synthetic data; benchmarks.md).
WIDE_AFTER = 200_000
EF_SEARCH_WIDE = 384
#: Vectors moved into the HNSW graph per add() while it is being built (~0.1-0.3 s of work).
MIGRATE_CHUNK = 2048


def set_faiss_threads(threads: int) -> None:
    """Cap FAISS's OpenMP threads so search leaves a core for the event loop."""
    import faiss  # noqa: TID251 - heavy import only when the index is used

    faiss.omp_set_num_threads(max(1, threads))


class VectorIndex:
    """Row *i* of the index is the vector of `ids[i]`; search returns (score, row) pairs.

    Past `approximate_after` vectors an HNSW graph is built alongside the flat index,
    `MIGRATE_CHUNK` vectors per `add` call, so no single batch stalls for the whole build;
    searches stay exact until the graph has caught up, then the flat index is dropped.
    """

    def __init__(
        self,
        dim: int,
        *,
        approximate_after: int = 50_000,
        hnsw_m: int = 16,
        migrate_chunk: int = MIGRATE_CHUNK,
    ) -> None:
        import faiss  # noqa: TID251

        self.dim = dim
        self.migrate_chunk = migrate_chunk
        self.approximate_after = approximate_after
        self.hnsw_m = hnsw_m
        self.ids: list[str] = []
        self._index: Any = faiss.IndexFlatIP(dim)
        self._building: Any = None

    @property
    def kind(self) -> str:
        """ "flat" (exact), "migrating" (exact, graph being built) or "hnsw" (approximate)."""
        if type(self._index).__name__ != "IndexFlatIP":
            return "hnsw"
        return "migrating" if self._building is not None else "flat"

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, vectors: np.ndarray, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Top-k inner products and row numbers per query (rows -1 / scores -inf when empty)."""
        queries = np.ascontiguousarray(vectors, dtype=np.float32)
        if not self.ids:
            shape = (len(queries), k)
            return np.full(shape, -np.inf, dtype=np.float32), np.full(shape, -1, dtype=np.int64)
        if self.kind == "hnsw":
            wide = len(self.ids) > WIDE_AFTER
            self._index.hnsw.efSearch = EF_SEARCH_WIDE if wide else EF_SEARCH
        scores, rows = self._index.search(queries, k)
        return scores, rows

    def add(self, vectors: np.ndarray, ids: list[str]) -> None:
        """Append vectors with their ids; past the limit, move on with the HNSW build."""
        if len(vectors) != len(ids):
            raise ValueError("one id per vector")
        if ids:
            self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
            self.ids.extend(ids)
        self.migrate_step()

    def migrate_step(self, chunk: int | None = None) -> None:
        """Start or continue the HNSW build by up to `chunk` vectors; switch when complete."""
        chunk = self.migrate_chunk if chunk is None else chunk
        if self.kind == "hnsw" or len(self.ids) <= self.approximate_after:
            return
        if self._building is None:
            self._building = new_hnsw(self.dim, self.hnsw_m)
        done = self._building.ntotal
        upto = min(len(self.ids), done + chunk)
        if upto > done:
            self._building.add(self._index.reconstruct_n(done, upto - done))
        if self._building.ntotal == len(self.ids):
            self._index, self._building = self._building, None

    def vectors(self) -> np.ndarray:
        """All stored vectors, in id order."""
        if not self.ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._index.reconstruct_n(0, len(self.ids)), dtype=np.float32)

    def keep(self, rows: list[int]) -> None:
        """Rebuild holding only `rows` (in that order), e.g. to drop ids not on disk."""
        vectors = self.vectors()[rows] if rows else np.zeros((0, self.dim), np.float32)
        ids = [self.ids[r] for r in rows]
        fresh = VectorIndex(self.dim, approximate_after=self.approximate_after, hnsw_m=self.hnsw_m)
        fresh.add(vectors, ids)
        self.ids, self._index, self._building = fresh.ids, fresh._index, fresh._building

    def write(self, path: Path) -> None:
        """Write the FAISS index to `path` (a half-built graph is not saved: it is rebuilt)."""
        import faiss  # noqa: TID251

        faiss.write_index(self._index, str(path))

    @classmethod
    def read(
        cls, path: Path, ids: list[str], *, approximate_after: int, hnsw_m: int
    ) -> VectorIndex:
        """Load an index written by `write` and attach its ids.

        Raises:
            StoreError: the file is unreadable or its size disagrees with `ids`.
        """
        import faiss  # noqa: TID251

        try:
            raw: Any = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise StoreError(f"cannot read dedup index {path}: {exc}") from exc
        if raw.ntotal != len(ids):
            raise StoreError(f"dedup index {path} holds {raw.ntotal} vectors for {len(ids)} ids")
        index = cls(raw.d, approximate_after=approximate_after, hnsw_m=hnsw_m)
        if type(raw).__name__ != "IndexFlatIP":
            raw.hnsw.efSearch = EF_SEARCH
        index._index, index.ids = raw, list(ids)
        return index


def new_hnsw(dim: int, m: int) -> Any:
    """An empty HNSW graph, inner-product metric, with the module's ef settings."""
    import faiss  # noqa: TID251

    index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = EF_CONSTRUCTION
    index.hnsw.efSearch = EF_SEARCH
    return index
