"""Diversity figures on the sampled turns: distinct-n, n-gram overlap, vocabulary, NN similarity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from asyncgen.report.text_stats import distinct_n, ngram_overlap, vocabulary_size


def text_diversity(texts: Sequence[str]) -> dict[str, Any]:
    """distinct-1/2/3, 4-gram overlap (self-BLEU-like) and vocabulary of a sample."""
    return {
        "sample_size": len(texts),
        "distinct_1": round(distinct_n(texts, 1), 4),
        "distinct_2": round(distinct_n(texts, 2), 4),
        "distinct_3": round(distinct_n(texts, 3), 4),
        "ngram_overlap_4": round(ngram_overlap(texts, 4), 4),
        "vocabulary_size": vocabulary_size(texts),
    }


def nearest_neighbour_similarity(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each normalised vector's highest cosine similarity to any other vector of the sample."""
    if len(vectors) < 2:
        return np.zeros(len(vectors), dtype=np.float32)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    nearest: npt.NDArray[np.float32] = sims.max(axis=1).astype(np.float32)
    return nearest


def similarity_summary(nn: npt.NDArray[np.float32], threshold: float) -> dict[str, Any]:
    """Mean, quantiles, histogram and share at or above the duplicate threshold.

    The histogram spans the data and the threshold (not -1..1), so values bunched in a
    narrow band stay visible next to the bar they are measured against.
    """
    if nn.size == 0:
        return {"count": 0}
    low, high = min(float(nn.min()), threshold), max(float(nn.max()), threshold)
    pad = max((high - low) * 0.04, 0.005)
    counts, edges = np.histogram(nn, bins=30, range=(low - pad, high + pad))
    return {
        "count": int(nn.size),
        "mean": round(float(nn.mean()), 4),
        "p50": round(float(np.quantile(nn, 0.5)), 4),
        "p90": round(float(np.quantile(nn, 0.9)), 4),
        "max": round(float(nn.max()), 4),
        "share_at_or_above_threshold": round(float((nn >= threshold).mean()), 4),
        "threshold": threshold,
        "histogram": {"edges": [round(float(e), 4) for e in edges], "counts": counts.tolist()},
    }
