"""Realised mix against the configured plan, for every dimension a run is planned along."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any


@dataclass
class Coverage:
    """One dimension: what was produced, what was planned, and the worst gap."""

    name: str
    realised: dict[str, int]
    target: dict[str, float] | None

    @property
    def shares(self) -> dict[str, float]:
        """Realised shares of the total."""
        total = sum(self.realised.values())
        return {k: v / total for k, v in self.realised.items()} if total else {}

    @property
    def max_deviation(self) -> float | None:
        """Largest absolute gap between realised and target share, or None without target."""
        if not self.target or not self.realised:
            return None
        shares = self.shares
        keys = set(self.target) | set(shares)
        return max(abs(shares.get(k, 0.0) - self.target.get(k, 0.0)) for k in keys)

    def to_json(self) -> dict[str, Any]:
        """The dimension as report.json shows it."""
        deviation = self.max_deviation
        return {
            "realised": dict(sorted(self.realised.items(), key=lambda kv: -kv[1])),
            "realised_share": {k: round(v, 4) for k, v in self.shares.items()},
            "target_share": None if self.target is None else self.target,
            "max_deviation": None if deviation is None else round(deviation, 4),
        }


def _normalised(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()} if total else {}


def _uniform(names: list[str]) -> dict[str, float] | None:
    return {n: 1 / len(names) for n in names} if names else None


def targets_from_config(config: dict[str, Any], pipeline: str) -> dict[str, dict[str, float]]:
    """Planned shares per dimension, read from the run's config snapshot."""
    targets: dict[str, dict[str, float]] = {}
    if pipeline == "dialogue":
        dialogue = config.get("dialogue") or {}
        if dialogue.get("service_weights"):
            targets["service_count"] = _normalised(dialogue["service_weights"])
        if dialogue.get("resolution_statuses"):
            targets["resolution_status"] = _normalised(dialogue["resolution_statuses"])
        for key in ("user_emotions", "assistant_emotions", "regions"):
            uniform = _uniform(list(dialogue.get(key) or []))
            if uniform:
                targets[key] = uniform
    else:
        loop = config.get("interaction_generation") or {}
        if loop.get("min_turns") and loop.get("max_turns"):
            turns = [str(t) for t in range(int(loop["min_turns"]), int(loop["max_turns"]) + 1)]
            weights = loop.get("turn_weights")  # issue 22: the turn mix asked for
            if isinstance(weights, dict) and weights:
                targets["num_turns"] = _normalised({str(k): float(w) for k, w in weights.items()})
            else:
                targets["num_turns"] = _uniform(turns) or {}
        distractor = config.get("distractor") or {}
        if distractor.get("use_semantic") and distractor.get("layer_weights"):
            targets["noise_layer"] = _normalised(distractor["layer_weights"])
    pool = _model_pool(config, pipeline)
    if pool:
        targets["model"] = pool
    return targets


def _model_pool(config: dict[str, Any], pipeline: str) -> dict[str, float] | None:
    section = (config.get("interaction_generation") or {}).get("assistant_model") or {}
    entries = section.get("model_pool") or []
    if pipeline == "interaction" and entries:
        weights: dict[str, float] = {}
        for entry in entries:
            name = str(entry.get("model"))
            weights[name] = weights.get(name, 0.0) + float(entry.get("weight", 1.0))
        return _normalised(weights)
    return None


def build_coverage(
    counters: dict[str, Counter[str]], targets: dict[str, dict[str, float]]
) -> list[Coverage]:
    """One Coverage per counted dimension, targets attached where planned."""
    names = sorted(set(counters) | set(targets))
    return [Coverage(n, dict(counters.get(n, Counter())), targets.get(n)) for n in names]


def largest_deviations(coverages: list[Coverage], limit: int = 10) -> list[dict[str, Any]]:
    """The worst planned-vs-realised gaps, largest first."""
    rows: list[dict[str, Any]] = []
    for cov in coverages:
        if not cov.target or not cov.realised:
            continue
        shares = cov.shares
        for key in set(cov.target) | set(shares):
            gap = shares.get(key, 0.0) - cov.target.get(key, 0.0)
            rows.append(
                {
                    "dimension": cov.name,
                    "value": key,
                    "realised": round(shares.get(key, 0.0), 4),
                    "target": round(cov.target.get(key, 0.0), 4),
                    "gap": round(gap, 4),
                }
            )
    rows.sort(key=lambda r: -abs(r["gap"]))
    return rows[:limit]
