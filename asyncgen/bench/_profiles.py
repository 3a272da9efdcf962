"""The three benchmark profiles: concurrency sweep, fixed rates, and find-limit.

Each runs steps through a `StepRunner`, decides when to stop by itself, and returns the
steps with a summary of what they found.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from asyncgen.bench._stats import StepStats
from asyncgen.bench._step import StepPlan, StepRunner
from asyncgen.config.bench import BenchSettings

PROFILES = ("sweep", "rate", "find-limit")
OnStep = Callable[[StepStats], None]


@dataclass
class ProfileOutcome:
    """The steps a profile ran, in order, and what they add up to."""

    profile: str
    steps: list[StepStats] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)


def verdict(step: StepStats, threshold: float) -> str:
    """Name a step's outcome: limited (429s past the threshold), errors (others), or ok."""
    if step.rate_limited_fraction > threshold:
        return "limited"
    if step.other_error_fraction > threshold:
        return "errors"
    return "ok"


def _reason(step: StepStats, threshold: float) -> str:
    kinds = ", ".join(f"{k}×{n}" for k, n in sorted(step.errors.items(), key=lambda kv: -kv[1]))
    return (
        f"{step.error_fraction:.1%} of {step.requests} requests failed at x={step.x:g} "
        f"(threshold {threshold:.0%}): {kinds}"
    )


class _Driver:
    """Runs steps, keeps them in order, and enforces the step cap."""

    def __init__(self, runner: StepRunner, outcome: ProfileOutcome, on_step: OnStep | None):
        self.runner = runner
        self.outcome = outcome
        self.on_step = on_step
        self.max_steps = runner.settings.max_steps
        self.primed: str | None = None

    @property
    def has_room(self) -> bool:
        """True while the step cap allows another step."""
        return len(self.outcome.steps) < self.max_steps

    async def run(self, plan: StepPlan) -> StepStats:
        """Run one step and report it; the first is preceded by one priming request."""
        if self.primed is None:
            self.primed = await self.runner.prime()
        stats = await self.runner.run(plan)
        self.outcome.steps.append(stats)
        if self.on_step is not None:
            self.on_step(stats)
        return stats

    async def probe(self, plan: StepPlan) -> StepStats:
        """Run a step; if it fails, run it again and believe the failure only if it recurs.

        One stall of either side's event loop can bunch a few requests into one short
        window; a limit is where failures are sustained, so a failure that does not repeat
        marks its step superseded (kept in bench.json, left out of the findings).
        """
        threshold = self.runner.settings.error_threshold
        first = await self.run(plan)
        if verdict(first, threshold) == "ok" or not self.runner.settings.confirm_failures:
            return first
        if not self.has_room:
            return first
        second = await self.run(plan)
        if verdict(second, threshold) == "ok":
            first.superseded = True
            first.notes.append("failures did not recur when the step was repeated: noise")
        return second


def _doubling(limit: int) -> Iterator[int]:
    level = 1
    while level < limit:
        yield level
        level *= 2
    yield limit


async def sweep(runner: StepRunner, on_step: OnStep | None = None) -> ProfileOutcome:
    """Concurrency 1, 2, 4, … until throughput stops rising or errors climb, then bisect."""
    s = runner.settings
    out = ProfileOutcome("sweep")
    drive = _Driver(runner, out, on_step)
    clean: int | None = None
    failing: int | None = None
    reason = f"reached max_concurrency {s.max_concurrency}"
    best: StepStats | None = None
    for level in _doubling(s.max_concurrency):
        if not drive.has_room:
            reason = f"reached max_steps {s.max_steps}"
            break
        step = await drive.probe(StepPlan("sweep", concurrency=level))
        if verdict(step, s.error_threshold) != "ok":
            failing, reason = level, _reason(step, s.error_threshold)
            break
        clean = level
        if best is not None and step.success_per_s < best.success_per_s * (1 + s.min_gain):
            reason = f"throughput rose less than {s.min_gain:.0%} from x={best.x:g} to x={level}"
            break
        best = step if best is None or step.success_per_s > best.success_per_s else best
    if s.refine and clean is not None and failing is not None:
        clean, failing = await _bisect_levels(drive, clean, failing, s.error_threshold)
    out.summary = _sweep_summary(out.steps, clean, failing, reason, s)
    out.summary["priming_request"] = drive.primed
    return out


async def _bisect_levels(
    drive: _Driver, clean: int, failing: int, threshold: float
) -> tuple[int, int]:
    """Narrow the (clean, failing) concurrency bracket to adjacent integers."""
    while failing - clean > 1 and drive.has_room:
        mid = (clean + failing) // 2
        step = await drive.probe(StepPlan("sweep", concurrency=mid))
        if verdict(step, threshold) == "ok":
            clean = mid
        else:
            failing = mid
    return clean, failing


def _sweep_summary(
    steps: list[StepStats], clean: int | None, failing: int | None, reason: str, s: BenchSettings
) -> dict[str, Any]:
    steps = [st for st in steps if not st.superseded]
    ok = [st for st in steps if verdict(st, s.error_threshold) == "ok"]
    peak = max(ok, key=lambda st: st.success_per_s, default=None)
    knee = None
    if peak is not None:
        floor = peak.success_per_s * (1 - s.min_gain)
        knee = min((st.x for st in ok if st.success_per_s >= floor), default=None)
    return {
        "stop_reason": reason,
        "max_clean_concurrency": clean,
        "first_failing_concurrency": failing,
        "knee_concurrency": None if knee is None else int(knee),
        "recommended_concurrency": _recommended(clean, None if knee is None else int(knee)),
        "peak": _point(peak),
    }


def _recommended(clean: int | None, knee: int | None) -> int | None:
    """The lowest level that reaches peak throughput, never above the last clean level."""
    levels = [v for v in (clean, knee) if v is not None]
    return min(levels) if levels else None


async def rates(runner: StepRunner, on_step: OnStep | None = None) -> ProfileOutcome:
    """One open-loop step per configured rate, evenly spaced or Poisson arrivals."""
    s = runner.settings
    out = ProfileOutcome("rate")
    drive = _Driver(runner, out, on_step)
    for rate in sorted(s.rates):
        if not drive.has_room:
            break
        await drive.run(StepPlan("rate", rate=rate, poisson=s.poisson))
    ok = [st for st in out.steps if verdict(st, s.error_threshold) == "ok"]
    limited = [st.x for st in out.steps if verdict(st, s.error_threshold) == "limited"]
    peak = max(ok, key=lambda st: st.success_per_s, default=None)
    out.summary = {
        "stop_reason": f"ran {len(out.steps)} of {len(s.rates)} rates",
        "arrivals": "poisson" if s.poisson else "constant",
        "highest_clean_rate": None if peak is None else peak.x,
        "onset_rate_429": min(limited, default=None),
        "peak": _point(peak),
        "priming_request": drive.primed,
    }
    return out


async def find_limit(runner: StepRunner, on_step: OnStep | None = None) -> ProfileOutcome:
    """Ramp the rate until sustained 429s, bisect the bracket, report the sustained rate."""
    s = runner.settings
    out = ProfileOutcome("find-limit")
    drive = _Driver(runner, out, on_step)
    clean, failing, reason = await _ramp(drive, s)
    if s.refine and clean is not None and failing is not None:
        clean, failing = await _bisect_rates(drive, clean, failing, s)
    out.summary = _limit_summary(out.steps, failing, reason, s)
    out.summary["priming_request"] = drive.primed
    return out


async def _ramp(drive: _Driver, s: BenchSettings) -> tuple[float | None, float | None, str]:
    """Multiply the rate until a step fails; if the first one fails, divide instead."""
    clean: float | None = None
    failing: float | None = None
    rate = s.start_rate
    reason = f"reached max_rate {s.max_rate:g}/s without sustained 429s"
    while drive.has_room and rate <= s.max_rate:
        step = await drive.probe(StepPlan("find-limit", rate=rate))
        if verdict(step, s.error_threshold) == "ok":
            clean = rate
            if failing is not None:
                break
            rate *= s.ramp_factor
            continue
        failing, reason = rate, _reason(step, s.error_threshold)
        if clean is not None:
            break
        rate /= s.ramp_factor  # the limit is below the start rate: walk down
        if rate * s.step_seconds < 1:
            reason = f"fails even below one request per step; {reason}"
            break
    if not drive.has_room and (clean is None or failing is None):
        reason = f"reached max_steps {s.max_steps}; {reason}"
    return clean, failing, reason


async def _bisect_rates(
    drive: _Driver, clean: float, failing: float, s: BenchSettings
) -> tuple[float, float]:
    """Geometric bisection of the (clean, failing) rate bracket down to `rate_precision`."""
    while failing / clean > 1 + s.rate_precision and drive.has_room:
        mid = math.sqrt(clean * failing)
        step = await drive.probe(StepPlan("find-limit", rate=mid))
        if verdict(step, s.error_threshold) == "ok":
            clean = mid
        else:
            failing = mid
    return clean, failing


def _limit_summary(
    steps: list[StepStats], failing: float | None, reason: str, s: BenchSettings
) -> dict[str, Any]:
    """The highest rate sustained without 429s (drain-corrected), and where 429s set in."""
    steps = [st for st in steps if not st.superseded]
    ok = [st for st in steps if verdict(st, s.error_threshold) == "ok"]
    best = max(ok, key=lambda st: st.sustained_success_per_s, default=None)
    limited = [st for st in steps if verdict(st, s.error_threshold) == "limited"]
    onset = min(limited, key=lambda st: st.x, default=None)
    return {
        "stop_reason": reason,
        "sustainable_rps": None if best is None else best.sustained_success_per_s,
        "sustainable_rpm": None if best is None else best.sustained_success_per_s * 60.0,
        "sustainable_tpm": None if best is None else best.sustained_tokens_per_min,
        "sustainable_tpm_reserved": None
        if best is None
        else best.sustained_reserved_tokens_per_min,
        "sustainable_offered_rate": None if best is None else best.x,
        "measured_success_rpm": None if best is None else best.success_per_s * 60.0,
        "drain_correction": None if best is None else 1.0 - best.sustained_share,
        "onset_rate_429": None if onset is None else onset.x,
        "onset_rpm_429": None if onset is None else onset.x * 60.0,
        "first_failing_rate": failing,
        "peak": _point(best),
    }


def _point(step: StepStats | None) -> dict[str, Any] | None:
    """The headline figures of one step, for summaries."""
    if step is None:
        return None
    return {
        "x": step.x,
        "success_per_s": step.success_per_s,
        "tokens_per_min": step.tokens_per_min,
        "reserved_tokens_per_min": step.reserved_tokens_per_min,
        "sustained_success_per_s": step.sustained_success_per_s,
        "sustained_reserved_tokens_per_min": step.sustained_reserved_tokens_per_min,
        "latency_p50": step.latency["p50"],
        "latency_p99": step.latency["p99"],
        "max_in_flight": step.max_in_flight,
    }


async def run_profile(
    name: str, runner: StepRunner, on_step: OnStep | None = None
) -> ProfileOutcome:
    """Dispatch by profile name (one of `PROFILES`)."""
    handlers = {"sweep": sweep, "rate": rates, "find-limit": find_limit}
    return await handlers[name](runner, on_step)
