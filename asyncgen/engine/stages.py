"""Progress for every stage: counts, rate and ETA per stage, from the ledger as it grows.

Every model call is a ledger line tagged with its prompt kind, so the ledger already
knows how far the persona → query → style-transfer stages, the conversations and the
dialogue scenarios have come; a pipeline may add what it counts itself and the totals it
expects (`stage_counts()`: label → (done, total or None)). The same rows go on the live
table during `prepare` (before any record exists) and during the run, and into the log
line without a terminal.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asyncgen.engine.fmt import fmt_duration
from asyncgen.store.ledger import Ledger

if TYPE_CHECKING:
    from asyncgen.contract import Pipeline

LABELS = {
    "query_generation": "queries",
    "style_transfer": "style transfer",
    "assistant": "assistant turns",
    "user_feedback": "user turns",
    "semantic_noise": "noise rewrites",
    "intent_extraction": "intent extraction",
    "dialogue_scenario": "dialogue scenarios",
    "dialogue_generation": "dialogues",
    "generic": "requests",
}


@dataclass(frozen=True)
class StageRow:
    """One stage on the display."""

    label: str
    done: int
    total: int | None
    rate: float
    eta_s: float | None

    def text(self) -> str:
        """`18/24 (75%) 2.1/s eta 0:03`."""
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        share = f" ({min(1.0, self.done / self.total):.0%})" if self.total else ""
        eta = f" eta {fmt_duration(self.eta_s)}" if self.total else ""
        return f"{count}{share} {self.rate:.1f}/s{eta}"


class StageMeter:
    """Stage rows from the ledger's session counts by kind plus the pipeline's own."""

    def __init__(
        self,
        ledger: Ledger,
        pipeline: Pipeline,
        *,
        clock: Callable[[], float] = time.monotonic,
        window: float = 30.0,
    ) -> None:
        self._ledger = ledger
        self._pipeline = pipeline
        self._clock = clock
        self._window = window
        self._history: dict[str, deque[tuple[float, int]]] = {}

    def _counts(self) -> dict[str, tuple[int, int | None]]:
        extra = self._pipeline.stage_counts()
        seen: dict[str, int] = {}
        for kind, spend in self._ledger.totals.by_kind.items():
            label = LABELS.get(kind, kind)
            seen[label] = seen.get(label, 0) + spend.requests
        counts: dict[str, tuple[int, int | None]] = {}
        for label, (done, total) in extra.items():  # the pipeline's stages first, in order
            counts[label] = (seen.get(label, 0) if done is None else int(done), total)
        for label, requests in seen.items():
            counts.setdefault(label, (requests, None))
        return counts

    def rows(self) -> list[StageRow]:
        """Every stage seen so far (or expected), in a stable order."""
        now = self._clock()
        out = []
        for label, (done, total) in self._counts().items():
            rate = self._rate(label, now, done)
            remaining = max(0, total - done) if total else None
            eta = None
            if remaining is not None:
                eta = 0.0 if remaining == 0 else (remaining / rate if rate > 0 else None)
            out.append(StageRow(label, done, total, rate, eta))
        return out

    def _rate(self, label: str, now: float, done: int) -> float:
        history = self._history.setdefault(label, deque())
        history.append((now, done))
        while len(history) > 2 and now - history[1][0] >= self._window:
            history.popleft()
        t0, d0 = history[0]
        return (done - d0) / (now - t0) if now > t0 else 0.0

    def line(self) -> str:
        """The rows on one log line: `queries 18/24 (75%) 2.1/s eta 0:03 | …`."""
        return " | ".join(f"{row.label} {row.text()}" for row in self.rows())
