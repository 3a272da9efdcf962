"""`bench slo`: the highest rate (or concurrency) that meets latency SLOs, and its goodput.

SLOs read like ``"ttft_p99<=2s,e2e_p95<=8s"``: a metric (`ttft`, `e2e` end-to-end
latency, `itl` inter-token latency), a statistic (`p50`…`p99.9`, or `mean`), `<=` or `<`,
and a value in `s` or `ms`. A step's *margin* is the worst of measured/target − 1 over
the SLOs (≤ 0 meets them all), and a step whose failures pass `error_threshold` fails.

The search follows vLLM's SLA sweep: keep the history of (value, margin), ramp by
`ramp_factor` until a step fails, then place each next step where the straight line
through the bracketing (pass, fail) margins crosses zero (interpolated bisection,
safeguarded to stay inside the middle 80 % of the bracket, and halving instead after two
steps on the same side), until the bracket is within
`rate_precision` (concurrency: adjacent integers).

Goodput (DistServe's): successful requests that individually meet every per-request
threshold, per second. Over-saturation (guidellm's idea): in an open-loop step, when
both the number in flight and TTFT (or latency, without streaming) rise with a
significant least-squares slope, the server is queueing without bound; the step is
stopped early and counts as failing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from asyncgen.bench._sample import Sample
from asyncgen.bench._stats import StepStats, percentile
from asyncgen.bench._step import StepPlan, StepRunner
from asyncgen.errors import ConfigError

OnStep = Callable[[StepStats], None]
METRICS = ("ttft", "e2e", "itl")
_SLO = re.compile(
    r"^\s*(?P<metric>ttft|e2e|itl)_(?P<stat>p\d+(?:\.\d+)?|mean)\s*(?P<op><=|<)\s*"
    r"(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s)?\s*$"
)
SATURATION_T = 3.0  # slope t-statistic both series must pass
SATURATION_RISE = 0.25  # and each must rise by this share of its level over the step
SATURATION_MIN_POINTS = 6
SATURATION_MIN_SECONDS = 1.0
SAFEGUARD = 0.1  # interpolated points stay this share of the bracket away from its ends


@dataclass(frozen=True)
class Slo:
    """One objective: `metric` `stat` `op` `seconds`."""

    metric: str
    stat: str
    op: str
    seconds: float

    @property
    def name(self) -> str:
        """``ttft_p99``."""
        return f"{self.metric}_{self.stat}"

    def text(self) -> str:
        """``ttft_p99<=2s``."""
        return f"{self.name}{self.op}{self.seconds:g}s"

    def measure(self, samples: Sequence[Sample]) -> float | None:
        """The statistic over the step's successful samples (None when there are none)."""
        values = _values(self.metric, [s for s in samples if s.is_ok])
        if not values:
            return None
        if self.stat == "mean":
            return sum(values) / len(values)
        return percentile(values, float(self.stat[1:]))

    def meets(self, value: float) -> bool:
        """Whether one measured value meets the objective."""
        return value <= self.seconds if self.op == "<=" else value < self.seconds


def _values(metric: str, samples: Sequence[Sample]) -> list[float]:
    if metric == "ttft":
        return [s.ttft if s.ttft is not None else s.latency for s in samples]
    if metric == "itl":
        return [gap for s in samples for gap in s.itl]
    return [s.latency for s in samples]


def parse_slos(text: str) -> list[Slo]:
    """``"ttft_p99<=2s,e2e_p95<=8s"`` → two `Slo`s.

    Raises:
        ConfigError: an objective that does not read as metric_stat<=value[s|ms].
    """
    slos = []
    for part in text.split(","):
        if not part.strip():
            continue
        match = _SLO.match(part)
        if match is None:
            raise ConfigError(
                f"--slo: cannot read {part.strip()!r}: expected e.g. ttft_p99<=2s or "
                f"e2e_p95<=800ms (metrics: {', '.join(METRICS)}; stats: pNN or mean)"
            )
        stat = match["stat"]
        if stat != "mean" and not 0 < float(stat[1:]) < 100:
            raise ConfigError(f"--slo: percentile out of range in {part.strip()!r}")
        scale = 0.001 if match["unit"] == "ms" else 1.0
        slos.append(Slo(match["metric"], stat, match["op"], float(match["value"]) * scale))
    if not slos:
        raise ConfigError("--slo: no objective given (e.g. --slo 'ttft_p99<=2s,e2e_p95<=8s')")
    return slos


def goodput(samples: Sequence[Sample], slos: Sequence[Slo], window: float) -> float:
    """Successful requests per second that meet every SLO's threshold individually."""
    good = 0
    for s in samples:
        if not s.is_ok:
            continue
        if all(_meets_one(s, slo) for slo in slos):
            good += 1
    return good / window if window > 0 else 0.0


def _meets_one(sample: Sample, slo: Slo) -> bool:
    values = _values(slo.metric, [sample])
    if slo.metric == "itl" and not values:
        return True
    if slo.metric == "itl":
        return slo.meets(sum(values) / len(values))  # a request's mean gap (TPOT)
    return bool(values) and slo.meets(values[0])


def margin(step: StepStats, slos: Sequence[Slo], error_threshold: float) -> float:
    """The worst measured/target − 1 (≤ 0: every SLO met); failures past the threshold fail."""
    worst = -math.inf
    for slo in slos:
        value = slo.measure(step.samples)
        if value is None:
            return math.inf
        worst = max(worst, value / slo.seconds - 1)
    if step.error_fraction > error_threshold or step.over_saturated:
        worst = max(worst, step.error_fraction - error_threshold, 1e-9)
    return worst


def rising(points: Sequence[tuple[float, float]]) -> bool:
    """A least-squares slope that is both significant (t ≥ SATURATION_T) and material."""
    n = len(points)
    if n < SATURATION_MIN_POINTS:
        return False
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((t - mean_t) ** 2 for t, _ in points)
    if sxx <= 0 or mean_y <= 0:
        return False
    slope = sum((t - mean_t) * (y - mean_y) for t, y in points) / sxx
    resid = sum((y - mean_y - slope * (t - mean_t)) ** 2 for t, y in points)
    se = math.sqrt(resid / (n - 2) / sxx) if n > 2 else math.inf
    span = max(t for t, _ in points) - min(t for t, _ in points)
    t_stat = slope / se if se > 0 else (math.inf if slope > 0 else 0.0)
    return t_stat >= SATURATION_T and slope * span >= SATURATION_RISE * mean_y


class SaturationWatch:
    """Watches one open-loop step: in flight and TTFT rising together means stop."""

    def __init__(self, runner: StepRunner) -> None:
        self.runner = runner
        self.in_flight: list[tuple[float, float]] = []
        self.tripped = False

    def __call__(self, samples: Sequence[Sample]) -> bool:
        """The `StopWhen` rule: sample in-flight now; test both slopes."""
        now = self.runner.clock()
        self.in_flight.append((now, float(self.runner.progress.in_flight)))
        if not samples:
            return False
        t0 = min(s.start for s in samples)
        if now - t0 < SATURATION_MIN_SECONDS:
            return False
        ok = [s for s in samples if s.is_ok]
        ttft = [(s.start, s.ttft if s.ttft is not None else s.latency) for s in ok]
        self.tripped = rising(self.in_flight) and rising(ttft)
        return self.tripped


@dataclass
class _History:
    points: dict[float, float]

    def best_pass(self) -> float | None:
        return max((x for x, m in self.points.items() if m <= 0), default=None)

    def first_fail(self) -> float | None:
        return min((x for x, m in self.points.items() if m > 0), default=None)


def _next_value(history: _History, integer: bool) -> float:
    """Where the line through the bracket's margins crosses zero, kept off the ends."""
    lo, hi = history.best_pass(), history.first_fail()
    assert lo is not None and hi is not None
    m_lo, m_hi = history.points[lo], history.points[hi]
    if math.isfinite(m_hi) and m_hi != m_lo:
        x = lo + (hi - lo) * (0 - m_lo) / (m_hi - m_lo)
    else:
        x = math.sqrt(lo * hi) if lo > 0 else (lo + hi) / 2
    pad = SAFEGUARD * (hi - lo)
    x = min(max(x, lo + pad), hi - pad)
    if integer:
        x = float(min(max(round(x), lo + 1), hi - 1))
    return x


async def slo_search(
    runner: StepRunner,
    slos: Sequence[Slo],
    on_step: OnStep | None = None,
    *,
    by: str = "rate",
    has_room: Callable[[], bool] = lambda: True,
    seconds_left: Callable[[], float | None] = lambda: None,
) -> tuple[list[StepStats], dict[str, Any]]:
    """Ramp, then interpolated bisection; returns the steps and the summary."""
    s = runner.settings
    integer = by == "concurrency"
    steps: list[StepStats] = []
    history = _History({})
    events: list[str] = []

    async def run_at(x: float) -> float:
        watch = SaturationWatch(runner) if not integer else None
        left = seconds_left()
        seconds = None if left is None else max(1.0, min(s.step_seconds, left))
        plan = (
            StepPlan("slo", concurrency=int(x), phase="slo", seconds=seconds)
            if integer
            else StepPlan("slo", rate=x, poisson=s.poisson, phase="slo", seconds=seconds)
        )
        step = await runner.run(plan, watch)
        step.over_saturated = bool(watch and watch.tripped)
        step.goodput_per_s = goodput(step.samples, slos, step.window_seconds)
        if step.over_saturated:
            events.append(f"over-saturated at {x:g}: in flight and TTFT rising together")
            step.notes.append("over-saturated: in flight and TTFT rose together; stopped early")
        steps.append(step)
        if on_step is not None:
            on_step(step)
        history.points[x] = margin(step, slos, s.error_threshold)
        return history.points[x]

    x = 1.0 if integer else s.start_rate
    reason = ""
    sides: list[bool] = []  # True: a bisection step failed
    while has_room():
        m = await run_at(x)
        if m > 0:
            break
        if x >= (s.max_concurrency if integer else s.max_rate):
            reason = f"every SLO met up to the ceiling {x:g}"
            break
        x = min(
            math.ceil(x * s.ramp_factor) if integer else x * s.ramp_factor,
            s.max_concurrency if integer else s.max_rate,
        )
    while not reason and has_room():
        lo, hi = history.best_pass(), history.first_fail()
        if lo is None or hi is None:
            reason = "SLOs fail already at the first value" if lo is None else reason
            break
        if (hi - lo <= 1) if integer else (hi / lo <= 1 + s.rate_precision):
            reason = f"bracket [{lo:g}, {hi:g}] within the precision"
            break
        x = _next_value(history, integer)
        if len(sides) >= 2 and sides[-1] == sides[-2]:
            # the line keeps landing on one side (a margin that jumps, as errors do):
            # bisect instead, as the Illinois variant of regula falsi does
            x = float(round((lo + hi) / 2)) if integer else math.sqrt(lo * hi)
        sides.append(await run_at(x) > 0)
    best = history.best_pass()
    best_step = next((st for st in reversed(steps) if st.x == best), None)
    summary: dict[str, Any] = {
        "stop_reason": reason or "step cap or max_duration reached",
        "slos": [slo.text() for slo in slos],
        "variable": by,
        "max_meeting_slos": best,
        "first_failing": history.first_fail(),
        "goodput_per_s": None if best_step is None else best_step.goodput_per_s,
        "margins": {f"{x:g}": m for x, m in sorted(history.points.items())},
        "over_saturation": events,
        "measured_at_best": None
        if best_step is None
        else {slo.name: slo.measure(best_step.samples) for slo in slos},
        "peak": None
        if best_step is None
        else {
            "x": best_step.x,
            "success_per_s": best_step.success_per_s,
            "latency_p99": best_step.latency["p99"],
            "max_in_flight": best_step.max_in_flight,
            "sustained_success_per_s": best_step.sustained_success_per_s,
            "sustained_reserved_tokens_per_min": best_step.sustained_reserved_tokens_per_min,
        },
    }
    return steps, summary
