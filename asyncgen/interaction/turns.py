"""The turn mix asked for: planned targets, and the realised counts kept on them.

`natural` (the spec): item *i*'s target is drawn from the weights and the user model may
stop before it, so the realised mix leans short; the summary shows realised against
target. `target`: targets follow the weights as a low-discrepancy sequence over the
plan (any stretch of n items holds each count within a couple of items of its share),
the user never stops before the target (its "satisfied" becomes a follow-up, as before
`min_turns`), and `TurnMix.choose` compensates what still skews the mix (items that
failed or were rejected, early stops): an item whose planned count is already over its
share by more than the tolerance takes the count furthest under its share instead.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncgen.config import InteractionGenerationSettings

_GOLDEN = (math.sqrt(5) - 1) / 2


class TurnMix:
    """The configured distribution of target turns and the realised one this run."""

    def __init__(self, settings: InteractionGenerationSettings) -> None:
        self.policy = settings.turn_policy
        counts = range(settings.min_turns, settings.max_turns + 1)
        raw = settings.turn_weights or dict.fromkeys(counts, 1.0)
        total = sum(raw.values())
        self.weights = {k: raw.get(k, 0.0) / total for k in counts}
        self.is_uniform = settings.turn_weights is None
        self.realised: Counter[int] = Counter()
        self.targets: Counter[int] = Counter()
        self.in_flight: Counter[int] = Counter()
        self.moved = 0

    def planned(self, seed: int, index: int, rng: random.Random) -> int:
        """Item `index`'s target: a pure function of (settings, seed, index)."""
        if self.policy == "natural":
            if self.is_uniform:  # the spec's draw, so earlier runs keep their plan
                return rng.randint(min(self.weights), max(self.weights))
            return rng.choices(list(self.weights), weights=list(self.weights.values()))[0]
        offset = random.Random(f"turns:{seed}").random()
        return self._inverse((offset + index * _GOLDEN) % 1.0)

    def _inverse(self, u: float) -> int:
        cumulative = 0.0
        for count, weight in self.weights.items():
            cumulative += weight
            if u < cumulative:
                return count
        return max(k for k, w in self.weights.items() if w > 0)

    def choose(self, planned: int) -> int:
        """The target to run: the planned one unless the mix is already over on it."""
        if self.policy != "target":
            return planned
        seen = self.realised + self.in_flight
        total = sum(seen.values()) + 1
        tolerance = max(1.0, 0.005 * total)
        surplus = {k: seen[k] - w * total for k, w in self.weights.items()}
        if surplus.get(planned, 0.0) <= tolerance:
            return planned
        self.moved += 1
        return min(surplus, key=lambda k: (surplus[k], k))

    def start(self, target: int) -> None:
        """A conversation aiming at `target` turns is running."""
        self.in_flight[target] += 1

    def end(self, target: int, realised: int | None) -> None:
        """It ended with `realised` turns (None: no record)."""
        self.in_flight[target] -= 1
        if realised is not None:
            self.count(target, realised)

    def count(self, target: int, realised: int) -> None:
        """A finished record's turns (also for records restored on resume)."""
        self.targets[target] += 1
        self.realised[realised] += 1

    def uncount(self, target: int, realised: int) -> None:
        """A record counted here was rejected after it was made (judge, dedup)."""
        self.targets[target] -= 1
        self.realised[realised] -= 1

    def figures(self) -> dict[str, Any]:
        """summary.json's `turn_mix`: policy, target and realised shares (points), the gap."""
        done = sum(self.realised.values())
        target = {str(k): round(100 * w, 2) for k, w in self.weights.items()}
        realised = {
            str(k): round(100 * self.realised[k] / done, 2) if done else 0.0 for k in self.weights
        }
        gap = max((abs(realised[k] - target[k]) for k in target), default=0.0)
        return {
            "policy": self.policy,
            "records": done,
            "target_pct": target,
            "realised_pct": realised,
            "max_gap_points": round(gap, 2),
            "targets_moved": self.moved,
        }
