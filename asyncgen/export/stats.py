"""Dataset statistics, accumulated one sample at a time (flat memory)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from asyncgen.export.sample import TrainingSample

Clock = Callable[[], datetime]


def local_now() -> datetime:
    """The default clock: aware local time (inject another in tests)."""
    return datetime.now().astimezone()


def persona_label(sample: TrainingSample) -> str:
    """The persona bucket of the spec's `persona_distribution` (role, cluster, or id)."""
    features = sample.persona_features
    if features.get("role") not in (None, ""):
        return str(features["role"])
    for key in ("cluster", "cluster_label"):
        if features.get(key) not in (None, ""):
            return f"cluster {features[key]}"
    return sample.persona_id


class StatsAccumulator:
    """Running sums behind the spec's statistics JSON."""

    def __init__(self) -> None:
        self.total = 0
        self.turns = 0
        self.trajectory = 0
        self.noisy = 0
        self.personas: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        self.user_turns: Counter[str] = Counter()

    def add(self, sample: TrainingSample) -> None:
        """Count one sample."""
        self.total += 1
        self.turns += sample.num_turns
        self.trajectory += len(sample.prompt_trajectory)
        self.noisy += sample.has_noise
        self.personas[persona_label(sample)] += 1
        self.sources[str(sample.metadata.get("source", "unknown"))] += 1
        self.user_turns[str(sample.metadata.get("user_turns", "clean"))] += 1

    def result(self, clock: Clock) -> dict[str, Any]:
        """The spec's keys (plus sample counts by source and by user-turn variant)."""
        n = self.total or 1
        return {
            "total_samples": self.total,
            "avg_turns": self.turns / n if self.total else 0.0,
            "avg_trajectory_length": self.trajectory / n if self.total else 0.0,
            "distractor_stats": {
                "samples_with_noise": self.noisy,
                "noise_rate": self.noisy / n if self.total else 0.0,
            },
            "persona_distribution": dict(self.personas.most_common()),
            "created_at": clock().isoformat(timespec="seconds"),
            "samples_by_source": dict(self.sources),
            "samples_by_user_turns": dict(self.user_turns),
        }


def compute(samples: Iterable[TrainingSample], clock: Clock) -> dict[str, Any]:
    """Statistics of a collection of samples."""
    acc = StatsAccumulator()
    for sample in samples:
        acc.add(sample)
    return acc.result(clock)
