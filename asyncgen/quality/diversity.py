"""The diversity watch: distinct-2 and nearest-neighbour similarity over a moving window.

Mode collapse (a model that keeps writing the same conversation) shows as fewer distinct
word bigrams and closer nearest neighbours among recent records. The worker pool hands
each kept record to `add` (cheap: a deque append; its text is taken later, in the
thread, and only for records still in the window); `refresh`, called at the metrics
cadence, computes the window's figures in a thread (numpy releases the GIL):

- `distinct_2`: distinct word bigrams / all word bigrams in the window (Li et al. 2016);
- `nn_similarity_mean` / `_max`: each record's highest cosine similarity to another in
  the window, over hashed unigram+bigram counts (2^12 buckets, no model to load).

A warning is logged once each time a figure crosses its bound (`quality.diversity`), and
again only after it has come back; the metrics line carries the figures and the warning.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asyncgen import offload
from asyncgen.quality.transcript import transcript

if TYPE_CHECKING:
    import numpy as np

    from asyncgen.config.quality import DiversitySettings

_WORD = re.compile(r"[a-z0-9']+")
_BUCKETS = 1 << 12
logger = logging.getLogger("asyncgen.quality")


def record_text(record: dict[str, Any], max_chars: int = 4000) -> str:
    """The words of a record's turns, both roles, at most `max_chars`."""
    return " ".join(text for _, text in transcript(record).turns)[:max_chars]


@dataclass
class _Entry:
    """One record in the window; its text and features are computed once, in the thread
    (a batch round keeps thousands of records at once and the window only the last
    `window` of them: the others never need their text).

    Features are kept as two small numpy arrays, not as Python objects: a frozenset of
    ~300 bigram tuples per record held ~58 KB each (11.7 MB for the 200-record window)
    and, as the window moved, churned tens of thousands of small objects per refresh
    among a batch run's live conversations, fragmenting the heap.
    """

    text: str = ""
    record: dict[str, Any] | None = None  # until `featurise` has taken its text
    bigrams: np.ndarray[Any, np.dtype[np.int64]] | None = None  # distinct bigram hashes
    bigram_count: int = 0
    buckets: np.ndarray[Any, np.dtype[np.uint16]] | None = None

    def featurise(self) -> None:
        import numpy as np  # here, in the worker thread: not part of every run's start-up

        if self.record is not None:
            self.text, self.record = record_text(self.record), None
        words = _WORD.findall(self.text.lower())
        pairs = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        self.bigram_count = len(pairs)
        # 64-bit hashes of one process: a collision among a window's bigrams is ~1e-12
        hashes = np.fromiter((hash(pair) for pair in pairs), dtype=np.int64, count=len(pairs))
        self.bigrams = np.unique(hashes)
        features = (*words, *pairs)
        self.buckets = np.fromiter(
            (zlib.crc32(f.encode()) % _BUCKETS for f in features),
            dtype=np.uint16,
            count=len(features),
        )
        self.text = ""  # featurised: the text is not needed again


def window_figures(texts: list[str]) -> dict[str, float]:
    """distinct-2 and nearest-neighbour similarity of a window of texts."""
    return _figures([_Entry(text) for text in texts])


def _figures(entries: list[_Entry]) -> dict[str, float]:
    for entry in entries:
        if entry.buckets is None:
            entry.featurise()
    import numpy as np

    total = sum(entry.bigram_count for entry in entries)
    arrays = [entry.bigrams for entry in entries if entry.bigrams is not None]
    distinct = len(np.unique(np.concatenate(arrays))) if total else 0
    figures = {"distinct_2": round(distinct / total, 4) if total else 1.0}
    if len(entries) < 2:
        return figures | {"nn_similarity_mean": 0.0, "nn_similarity_max": 0.0}

    empty = np.zeros(0, dtype=np.uint16)
    matrix = np.stack(
        [
            np.bincount(e.buckets if e.buckets is not None else empty, minlength=_BUCKETS)
            for e in entries
        ]
    ).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix /= np.where(norms > 0, norms, 1.0)
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, -1.0)
    nearest = similarity.max(axis=1)
    return figures | {
        "nn_similarity_mean": round(float(nearest.mean()), 4),
        "nn_similarity_max": round(float(nearest.max()), 4),
    }


class DiversityWatch:
    """Keeps the last `window` records' texts; computes and checks the figures on demand."""

    def __init__(self, settings: DiversitySettings) -> None:
        self.settings = settings
        self._entries: deque[_Entry] = deque(maxlen=settings.window)
        self._added = 0
        self._computed_at = -1
        self.latest: dict[str, Any] | None = None
        self.warnings = 0
        self._alarm = False

    def add(self, record: dict[str, Any]) -> None:
        """A record was kept: it enters the window (the oldest leaves)."""
        self._entries.append(_Entry(record=record))
        self._added += 1

    async def refresh(self) -> dict[str, Any] | None:
        """Recompute the window's figures (in a thread) once it holds `min_records`."""
        if len(self._entries) < self.settings.min_records or self._added == self._computed_at:
            return self.latest
        self._computed_at = self._added
        figures: dict[str, Any] = await offload.to_thread(_figures, list(self._entries))
        figures["window"] = len(self._entries)
        figures["records_seen"] = self._added
        problem = self._problem(figures)
        if problem and not self._alarm:
            self.warnings += 1
            logger.warning(
                "diversity: %s over the last %d records (distinct-2 %.3f, nearest-neighbour "
                "similarity mean %.3f, max %.3f): possible mode collapse",
                problem,
                figures["window"],
                figures["distinct_2"],
                figures["nn_similarity_mean"],
                figures["nn_similarity_max"],
            )
        self._alarm = problem is not None
        if problem:
            figures["warning"] = problem
        self.latest = figures
        return figures

    def _problem(self, figures: dict[str, Any]) -> str | None:
        settings = self.settings
        problems = []
        if figures["distinct_2"] < settings.min_distinct_2:
            problems.append(f"distinct-2 {figures['distinct_2']:.3f} < {settings.min_distinct_2}")
        if figures["nn_similarity_mean"] > settings.max_nn_similarity:
            problems.append(
                f"nearest-neighbour similarity {figures['nn_similarity_mean']:.3f} "
                f"> {settings.max_nn_similarity}"
            )
        return "; ".join(problems) or None

    def summary(self) -> dict[str, Any]:
        """summary.json's `diversity`: the last window's figures and the warnings given."""
        return {"latest": self.latest, "warnings": self.warnings}


def build_watch(settings: DiversitySettings) -> DiversityWatch | None:
    """The run's watch when `quality.diversity.enabled`."""
    return DiversityWatch(settings) if settings.enabled else None
