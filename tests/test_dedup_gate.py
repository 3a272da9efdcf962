"""The uniqueness gate: decisions, batch-internal duplicates, exports, a changed embedder."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import pytest

from asyncgen import offload
from asyncgen.config import RunConfig
from asyncgen.config.dedup import DedupSettings
from asyncgen.dedup import SemanticGate, create_gate, export_embeddings, export_hashes
from asyncgen.errors import StoreError

BASE = (
    "User: I need a taxi from the station to the castle at nine tomorrow morning.\n"
    "Assistant: Certainly, a car will collect you outside the main entrance at nine."
)
NEAR = BASE.replace("tomorrow morning", "tomorrow")  # a light edit of BASE
OTHER = (
    "User: My bank card was stolen in Leeds and I want to block it.\n"
    "Assistant: I have frozen the card; a replacement arrives within five days."
)


def _settings(**overrides: object) -> DedupSettings:
    data: dict[str, object] = {
        "embedder": "hashing",
        "raw_threshold": 0.8,
        "batch_deadline": 0.01,
        "save_interval": 60.0,
        "worker_process": False,
    }
    data.update(overrides)
    return DedupSettings.model_validate(data)


async def _started(tmp_path: Path, **overrides: object) -> SemanticGate:
    gate = SemanticGate(_settings(**overrides))
    await gate.start(tmp_path, [])
    return gate


async def test_near_copy_is_rejected_with_nearest_id_and_score(tmp_path: Path) -> None:
    """A light edit of an earlier record is a duplicate naming that record and the score."""
    gate = await _started(tmp_path)
    first = await gate.check("a", BASE)
    other = await gate.check("b", OTHER)
    near = await gate.check("c", NEAR)
    await gate.aclose()
    assert not first.is_duplicate and not other.is_duplicate
    assert near.is_duplicate and near.nearest_id == "a"
    assert near.score is not None and 0.8 <= near.score < 1.0
    assert gate.size == 2


async def test_exact_copy_is_caught_by_hash(tmp_path: Path) -> None:
    """A copy differing only in case and spacing is rejected with score 1.0 before embedding."""
    gate = await _started(tmp_path)
    await gate.check("a", BASE)
    decision = await gate.check("b", "  " + BASE.upper().replace(" ", "   "))
    await gate.aclose()
    assert decision.is_duplicate and decision.nearest_id == "a" and decision.score == 1.0
    assert gate.stats.exact_duplicates == 1


async def test_duplicates_inside_one_batch_are_caught(tmp_path: Path) -> None:
    """Candidates arriving together are checked against each other: the first one wins."""
    gate = await _started(tmp_path, batch_deadline=0.5)
    decisions = await asyncio.gather(
        gate.check("a", BASE), gate.check("b", OTHER), gate.check("c", NEAR)
    )
    await gate.aclose()
    assert gate.stats.batches == 1
    assert [d.is_duplicate for d in decisions] == [False, False, True]
    assert decisions[2].nearest_id == "a"


async def test_batches_respect_size(tmp_path: Path) -> None:
    """Many concurrent candidates are decided in micro-batches no larger than batch_size."""
    gate = await _started(tmp_path, batch_size=8)
    texts = [f"User: order number {i} {'x' * (i % 7)} for item {i * 7919}" for i in range(40)]
    await asyncio.gather(*(gate.check(str(i), t) for i, t in enumerate(texts)))
    await gate.aclose()
    assert gate.stats.batches >= 5 and gate.stats.batched_items == 40


async def test_exports_write_spec_files(tmp_path: Path) -> None:
    """--hash-file and --embedding-file exports hold one entry per accepted record."""
    gate = await _started(tmp_path)
    for rid, text in (("a", BASE), ("b", OTHER), ("c", NEAR)):
        await gate.check(rid, text)
    await gate.aclose()
    # the exports are synchronous file work: async callers run them in a worker thread
    assert await offload.to_thread(export_hashes, tmp_path, tmp_path / "dialogue_hashes.json") == 2
    hashes = json.loads((tmp_path / "dialogue_hashes.json").read_text())
    assert len(hashes) == 2 and all(len(h) == 64 for h in hashes)
    npy = tmp_path / "dialogue_embeddings.npy"
    assert await offload.to_thread(export_embeddings, tmp_path, npy) == 2
    vectors = np.load(tmp_path / "dialogue_embeddings.npy")
    assert vectors.shape == (2, gate.embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_export_without_dedup_state_is_a_clear_error(tmp_path: Path) -> None:
    """Exporting from a run that had dedup off is a StoreError, not an empty file."""
    with pytest.raises(StoreError, match="no dedup state"):
        export_hashes(tmp_path, tmp_path / "h.json")


async def test_restart_with_other_embedder_reembeds(tmp_path: Path) -> None:
    """Saved vectors from another embedder are not reused: every record is embedded again."""
    gate = await _started(tmp_path)
    await gate.check("a", BASE)
    await gate.aclose()
    again = SemanticGate(_settings(embedder="static", raw_threshold=0.95))
    await again.start(tmp_path, [("a", BASE)])
    decision = await again.check("c", BASE + " Thanks!")
    await again.aclose()
    assert again.stats.rebuilt == 1 and again.embedder.name == "static"
    assert decision.is_duplicate and decision.nearest_id == "a"
    meta = json.loads((tmp_path / "dedup" / "meta.json").read_text())
    assert meta["embedder"] == "static" and meta["threshold"] == 0.95 and meta["count"] == 1


async def test_create_gate_follows_config(tmp_path: Path) -> None:
    """No gate when dedup is disabled; otherwise one that uses the run's dedup settings."""
    config = RunConfig()
    config.dedup.enabled = False
    assert create_gate(config, tmp_path) is None
    config.dedup.enabled = True
    config.dedup.embedder = "hashing"
    gate = create_gate(config, tmp_path)
    assert isinstance(gate, SemanticGate)
    await gate.start(tmp_path, [])
    assert gate.threshold == pytest.approx(0.915)  # MiniLM's 0.9 on the hashing scale
    await gate.aclose()
    with pytest.raises(RuntimeError):
        await gate.check("x", BASE)


async def test_per_pipeline_overrides(tmp_path: Path) -> None:
    """dedup.pipelines turns dedup off, or changes what is embedded, for one pipeline only."""
    config = RunConfig.model_validate(
        {"dedup": {"pipelines": {"interaction": {"enabled": False},
                                 "dialogue": {"embed": "user_turns", "threshold": 0.95}}}}
    )  # fmt: skip
    config.engine.pipeline = "interaction"
    assert create_gate(config, tmp_path) is None
    config.engine.pipeline = "dialogue"
    gate = create_gate(config, tmp_path)
    assert isinstance(gate, SemanticGate)
    assert gate.settings.embed == "user_turns" and gate.settings.threshold == 0.95
    assert config.dedup.embed == "dialogue"  # the run-wide value is untouched
    await gate.aclose()  # never started: the preload is dropped, nothing is written
    assert not (tmp_path / "dedup").exists()


class _BrokenEmbedder:
    """An embedder whose model fails on encode (e.g. out of memory)."""

    name, dim = "hashing", 8

    def encode(self, texts: list[str]) -> np.ndarray:
        raise MemoryError("no room")

    def describe(self) -> dict[str, object]:
        return {"embedder": self.name, "model": None, "dim": self.dim}


async def test_encode_failure_reaches_every_waiting_candidate(tmp_path: Path) -> None:
    """When encoding fails, each waiting check raises EmbeddingError instead of hanging."""
    from asyncgen.errors import EmbeddingError

    gate = SemanticGate(_settings(), embedder=_BrokenEmbedder())
    await gate.start(tmp_path, [])
    results = await asyncio.gather(
        gate.check("a", BASE), gate.check("b", OTHER), return_exceptions=True
    )
    await gate.aclose()
    assert all(isinstance(r, EmbeddingError) for r in results)
