"""The three benchmark profiles: concurrency sweep, fixed rates, and find-limit.

Each runs steps through a `StepRunner`, decides when to stop by itself, and returns the
steps with a summary of what they found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from asyncgen.bench._limit import LimitSearch, monotonic_deadline, step_point
from asyncgen.bench._slo import parse_slos, slo_search
from asyncgen.bench._stats import StepStats
from asyncgen.bench._step import StepPlan, StepRunner
from asyncgen.config.bench import BenchSettings
from asyncgen.errors import ConfigError

PROFILES = ("sweep", "rate", "find-limit", "slo")
OnStep = Callable[[StepStats], None]
MIN_STEP_SECONDS = 1.0


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
        self.deadline = monotonic_deadline(runner.settings.max_duration, runner.clock)

    @property
    def has_room(self) -> bool:
        """True while the step cap and `max_duration` allow another step."""
        if self.deadline is not None and self._left() < MIN_STEP_SECONDS:
            return False
        return len(self.outcome.steps) < self.max_steps

    def time_left(self) -> float:
        """Seconds of `max_duration` left for the next step's window."""
        return self._left()

    def _left(self) -> float:
        assert self.deadline is not None
        s = self.runner.settings
        return self.deadline - self.runner.clock() - s.warmup_seconds - s.cooldown_seconds

    async def run(self, plan: StepPlan) -> StepStats:
        """Run one step and report it; the first is preceded by one priming request.

        Under `max_duration` a step is cut short so the profile ends in time.
        """
        if self.primed is None:
            self.primed = await self.runner.prime()
        if self.deadline is not None:
            seconds = min(self.runner.settings.step_seconds, max(self._left(), MIN_STEP_SECONDS))
            plan = dataclasses.replace(plan, seconds=seconds)
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
        "peak": step_point(peak),
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
        "peak": step_point(peak),
        "priming_request": drive.primed,
    }
    return out


async def find_limit(runner: StepRunner, on_step: OnStep | None = None) -> ProfileOutcome:
    """Probe, hypothesis (headers or a short ramp), saturation: see `asyncgen.bench._limit`."""
    search = LimitSearch(
        runner,
        on_step,
        advertised=runner.probe.advertised,
        deadline=monotonic_deadline(runner.settings.max_duration, runner.clock),
    )
    runner.outlook = lambda: (search.outlook.phase, search.outlook.seconds_left(runner.clock()))
    steps, summary = await search.run()
    out = ProfileOutcome("find-limit", steps, summary)
    return out


async def slo(runner: StepRunner, on_step: OnStep | None = None) -> ProfileOutcome:
    """The highest rate (or concurrency) meeting `bench.slo`: see `asyncgen.bench._slo`.

    Raises:
        ConfigError: no objectives given, or one that cannot be read.
    """
    s = runner.settings
    if not s.slo:
        raise ConfigError("bench slo: give the objectives, e.g. --slo 'ttft_p99<=2s,e2e_p95<=8s'")
    slos = parse_slos(s.slo)
    out = ProfileOutcome("slo")
    drive = _Driver(runner, out, on_step)
    drive.primed = await runner.prime()

    def report(step: StepStats) -> None:
        out.steps.append(step)
        if on_step is not None:
            on_step(step)

    steps, summary = await slo_search(
        runner,
        slos,
        report,
        by=s.slo_by,
        has_room=lambda: drive.has_room,
        seconds_left=lambda: None if drive.deadline is None else drive.time_left(),
    )
    out.summary = summary
    out.summary["priming_request"] = drive.primed
    return out


async def run_profile(
    name: str, runner: StepRunner, on_step: OnStep | None = None
) -> ProfileOutcome:
    """Dispatch by profile name (one of `PROFILES`)."""
    handlers = {"sweep": sweep, "rate": rates, "find-limit": find_limit, "slo": slo}
    return await handlers[name](runner, on_step)
