"""Figures the gate keeps for metrics and the benchmark."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol


class _Batch(Protocol):
    decisions: list[Any]
    encode_seconds: float
    search_seconds: float


@dataclass
class GateStats:
    """Counters of one gate: checks, duplicates, batches, queue depth, timings."""

    checks: int = 0
    exact_duplicates: int = 0
    semantic_duplicates: int = 0
    batches: int = 0
    batched_items: int = 0
    max_queue: int = 0
    encode_seconds: float = 0.0
    search_seconds: float = 0.0
    saves: int = 0
    save_seconds: float = 0.0
    rebuilt: int = 0
    dropped: int = 0
    index_size: int = 0
    index_kind: str = "flat"

    def observe_queue(self, depth: int) -> None:
        """Remember the deepest the queue has been."""
        self.max_queue = max(self.max_queue, depth)

    def observe_batch(self, result: _Batch, size: int, kind: str) -> None:
        """Count a decided batch."""
        self.batches += 1
        self.batched_items += len(result.decisions)
        self.semantic_duplicates += sum(1 for d in result.decisions if d.is_duplicate)
        self.encode_seconds += result.encode_seconds
        self.search_seconds += result.search_seconds
        self.index_size, self.index_kind = size, kind

    @property
    def duplicates(self) -> int:
        """Exact plus semantic duplicates."""
        return self.exact_duplicates + self.semantic_duplicates

    def snapshot(self) -> dict[str, Any]:
        """A plain dict for metrics.jsonl and summaries."""
        data = asdict(self)
        data["duplicates"] = self.duplicates
        data["mean_batch"] = round(self.batched_items / self.batches, 2) if self.batches else 0.0
        return data
