"""The batch decision: each candidate against the index and the earlier members of its batch."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from asyncgen.contract import DedupDecision
from asyncgen.dedup.embedders import Embedder
from asyncgen.dedup.index import VectorIndex


@dataclass
class BatchResult:
    """Decisions in candidate order, plus timings for the gate's figures."""

    decisions: list[DedupDecision]
    accepted: list[int] = field(default_factory=list)
    encode_seconds: float = 0.0
    search_seconds: float = 0.0


def decide_batch(
    embedder: Embedder, index: VectorIndex, ids: list[str], texts: list[str], threshold: float
) -> BatchResult:
    """Embed, search, decide in order, then add the accepted (one call, in a worker thread).

    Candidate j is a duplicate when its best score against the index, or against any
    candidate i < j of the same batch that was accepted, reaches `threshold`; so the
    outcome equals checking the candidates one by one in arrival order.
    """
    started = time.perf_counter()
    vectors = embedder.encode(texts)
    encoded = time.perf_counter()
    scores, rows = index.search(vectors, 1)
    within = vectors @ vectors.T
    decisions: list[DedupDecision] = []
    accepted: list[int] = []
    for j in range(len(ids)):
        best, nearest = float(scores[j, 0]), int(rows[j, 0])
        nearest_id = index.ids[nearest] if nearest >= 0 else None
        if accepted:
            i = max(accepted, key=lambda a: float(within[j, a]))
            if float(within[j, i]) > best:
                best, nearest_id = float(within[j, i]), ids[i]
        if nearest_id is not None and best >= threshold:
            decisions.append(DedupDecision(True, nearest_id, round(best, 6)))
        else:
            accepted.append(j)
            score = None if nearest_id is None else round(best, 6)
            decisions.append(DedupDecision(False, None, score))
    index.add(vectors[accepted], [ids[a] for a in accepted])
    done = time.perf_counter()
    return BatchResult(decisions, accepted, encoded - started, done - encoded)


def embed_into(
    embedder: Embedder, index: VectorIndex, items: list[tuple[str, str]], chunk: int
) -> None:
    """Embed and add records already accepted (a rebuild), `chunk` texts at a time."""
    for start in range(0, len(items), chunk):
        part = items[start : start + chunk]
        vectors = embedder.encode([text for _, text in part])
        index.add(vectors, [record_id for record_id, _ in part])
