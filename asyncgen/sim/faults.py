"""Fault injection and latency: one seeded RNG draws which fault (if any) and how long to wait.

Faults come from the server's own RNG stream (not the request's), so a retried request
can succeed where its first attempt failed, while a run with the same seed and the same
arrival order injects the same faults.
"""

from __future__ import annotations

import math
import random

from asyncgen.config.sim import FaultRates, SimSettings

__all__ = ["FAULT_KINDS", "STREAM_ONLY", "FaultPlan"]

# Names match the `sim.faults` settings; checked in this order against one uniform draw.
FAULT_KINDS = (
    "error_500",
    "error_503",
    "drop_connection",
    "malformed_json",
    "empty_content",
    "truncate_length",
    "slow_first_byte",
    "insufficient_quota",
    "overloaded_529",
    "timeout_408",
    "cloudflare_502",
    "cloudflare_520",
    "cloudflare_522",
    "cloudflare_524",
    "error_in_200",
    "content_filter",
    "content_filter_partial",
    "refusal",
    "tool_calls",
    "empty_choices",
    "no_usage",
    "stream_error",
    "stream_cut",
)
# Drawn only for streamed requests (a whole answer has no "mid-stream").
STREAM_ONLY = frozenset({"stream_error", "stream_cut"})


class FaultPlan:
    """Draws a fault per request and a lognormal latency, from `random.Random(seed)`."""

    def __init__(self, settings: SimSettings, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random(settings.seed)
        self.median = settings.latency_median
        self.sigma = settings.latency_sigma
        self.per_token = settings.seconds_per_output_token
        self.slow_seconds = settings.faults.slow_first_byte_seconds
        self._thresholds = _thresholds(settings.faults, stream=False)
        self._stream_thresholds = _thresholds(settings.faults, stream=True)

    def draw(self, stream: bool = False) -> str | None:
        """The fault for the next request (a streamed one may draw stream faults), or None."""
        thresholds = self._stream_thresholds if stream else self._thresholds
        if not thresholds:
            return None
        u = self.rng.random()
        for kind, threshold in thresholds:
            if u < threshold:
                return kind
        return None

    def latency(self) -> float:
        """Seconds before the first byte: lognormal with the configured median and sigma."""
        if self.median <= 0:
            return 0.0
        if self.sigma <= 0:
            return self.median
        return self.median * math.exp(self.sigma * self.rng.gauss(0.0, 1.0))


def _thresholds(rates: FaultRates, *, stream: bool) -> list[tuple[str, float]]:
    """Cumulative probabilities, skipping kinds whose rate is zero (or stream-only ones)."""
    out: list[tuple[str, float]] = []
    total = 0.0
    for kind in FAULT_KINDS:
        if not stream and kind in STREAM_ONLY:
            continue
        rate = float(getattr(rates, kind))
        if rate > 0:
            total += rate
            out.append((kind, total))
    return out
