"""The FAISS index: exact search, the switch to HNSW past a size, and its recall."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from asyncgen.dedup import VectorIndex


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(n // 50, 1), dim))
    return _unit(centres[rng.integers(0, len(centres), n)] + 0.6 * rng.standard_normal((n, dim)))


def test_exact_search_finds_the_same_vector() -> None:
    """A stored vector is its own nearest neighbour with score 1 and the right id."""
    index = VectorIndex(16)
    vectors = _clustered(100, 16, 0)
    index.add(vectors, [f"r{i}" for i in range(100)])
    scores, rows = index.search(vectors[[7, 42]], 1)
    assert [index.ids[r] for r in rows[:, 0]] == ["r7", "r42"]
    assert np.allclose(scores[:, 0], 1.0, atol=1e-5)


def test_empty_index_returns_no_neighbour() -> None:
    """Searching an empty index yields row -1 instead of failing."""
    _, rows = VectorIndex(8).search(_clustered(3, 8, 1), 1)
    assert (rows == -1).all()


def test_switches_to_hnsw_with_high_recall(tmp_path: Path) -> None:
    """Past approximate_after the index becomes HNSW and still finds near-copies (recall ≥ 0.98)."""
    dim, n = 32, 3000
    vectors = _clustered(n, dim, 2)
    index = VectorIndex(dim, approximate_after=1000, hnsw_m=16)
    for start in range(0, n, 500):
        index.add(vectors[start : start + 500], [f"r{i}" for i in range(start, start + 500)])
    assert index.kind == "hnsw"
    rng = np.random.default_rng(3)
    targets = rng.integers(0, n, 300)
    queries = _unit(vectors[targets] + 0.02 * rng.standard_normal((300, dim)))
    _, rows = index.search(queries, 1)
    assert (rows[:, 0] == targets).mean() >= 0.98
    index.write(tmp_path / "i.faiss")
    again = VectorIndex.read(tmp_path / "i.faiss", index.ids, approximate_after=1000, hnsw_m=16)
    assert again.kind == "hnsw" and np.array_equal(again.search(queries, 1)[1], rows)


def test_migration_keeps_search_exact_until_complete() -> None:
    """While the HNSW graph is being built (a chunk per add), searches stay exact."""
    dim = 16
    vectors = _clustered(103, dim, 4)
    index = VectorIndex(dim, approximate_after=100, migrate_chunk=50)
    index.add(vectors[:101], [str(i) for i in range(101)])
    assert index.kind == "migrating"
    index.add(vectors[101:102], ["101"])
    assert index.kind == "migrating"
    _, rows = index.search(vectors[:102], 1)
    assert (rows[:, 0] == np.arange(102)).all()
    index.add(vectors[102:], ["102"])
    assert index.kind == "hnsw" and len(index) == 103


def test_keep_drops_rows_and_preserves_vectors() -> None:
    """keep() leaves exactly the chosen ids, each with its own vector."""
    vectors = _clustered(10, 8, 5)
    index = VectorIndex(8)
    index.add(vectors, [f"r{i}" for i in range(10)])
    index.keep([1, 3, 5])
    assert index.ids == ["r1", "r3", "r5"]
    assert np.allclose(index.vectors(), vectors[[1, 3, 5]], atol=1e-6)
