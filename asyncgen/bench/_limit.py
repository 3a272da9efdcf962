"""find-limit: the sustainable request rate, fast, from what the endpoint admits at saturation.

1. **Probe** (`probe_seconds` at `start_rate`): the limit headers, the tokens a request
   reserves (prompt + max_tokens), the latency.
2. **Hypothesis**: from the headers when the endpoint sends them (the tighter of
   requests/min and tokens/min ÷ tokens per request); otherwise a short ramp
   (`ramp_seconds` steps, × `ramp_factor`) up to the first step with sustained 429s,
   whose admitted rate is the hypothesis.
3. **Saturation** (one step at `(1 + overload)` × the hypothesis): the endpoint admits
   exactly its limit once the limit binds; the admitted rate between the first and last
   phase points (see `_saturation`) is the estimate, the burst before the first point
   the stated correction. The step ends once the points span `measure_seconds` and
   `min_admitted` requests (a fixed window needs two of its boundaries), or at
   `measure_max_seconds`. A hypothesis far above the result (a ramp overshoot) earns a
   second, gentler saturation step.
4. **Binding dimension**: what the 429s name, else the advertised limit the estimate
   meets; tokens per minute are the estimate times the reserved tokens per request.

Nothing is bisected unless the saturation estimate cannot hold: when admissions
collapse under overload (refused requests count against the limit, or a budget ran out)
the offered rate is bisected between the last clean rate and the collapse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from asyncgen.bench._sample import Sample
from asyncgen.bench._saturation import (
    Saturation,
    concurrency_cap,
    named_dimension,
    saturated_rate,
    window_count_rate,
)
from asyncgen.bench._stats import StepStats
from asyncgen.bench._step import StepPlan, StepRunner
from asyncgen.config.bench import BenchSettings

OnStep = Callable[[StepStats], None]
COLLAPSE = 0.5  # admitted at saturation below this share of the clean rate: not a rate limit
REFINE_ABOVE = 1.6  # offered/estimated above this: measure again, closer to the limit
MIN_POINTS_FOR_CEILING = 8  # fewer phase points: a fixed window (exact already)
CEILING_CHECKS = 4  # evenly paced steps above a saturation estimate, at most
CEILING_STEP = 1.05  # each offers this much more than the estimate so far
CEILING_PREFIX_OVERLOAD = 3.0  # a check opens at this × the estimate, to empty any bucket:
CEILING_PREFIX_SECONDS = 1.0  # 2 s of burst drained, more than a 1 s sub-window's 1.1 s
CEILING_SETTLE_SECONDS = 1.0  # a 1 s sliding log forgets the prefix; not judged
CEILING_SLACK = 2  # 429s a check may draw from jitter and still pass…
CEILING_SHARE = 0.02  # …or this share of it; a bucket refuses 4.8 % at CEILING_STEP
PAUSE_SECONDS = 0.05  # a send this late: the client stalled (GC, a busy machine)
MAX_RUN = 0.5  # s: a longer refusal run in saturation means a long window: no checks
DRAIN_ALLOWANCE = 3.0  # seconds to budget per step for answers still in flight
_WINDOW_DIMENSIONS = ("requests", "tokens", "input_tokens", "output_tokens")


@dataclass
class Outlook:
    """What the search is doing and how long it expects to take; read by the display."""

    phase: str = "starting"
    ends_at: float | None = None

    def seconds_left(self, now: float) -> float | None:
        """Seconds until the expected end, or None when not yet known."""
        return None if self.ends_at is None else max(0.0, self.ends_at - now)


@dataclass(frozen=True)
class Estimate:
    """The sustainable rate, how precise it is, and the correction that produced it."""

    rate: float
    precision: float | None
    correction: str

    @classmethod
    def single(cls, found: Saturation) -> Estimate | None:
        """One saturation step's admitted rate, burst left out."""
        if found.rate is None:
            return None
        return cls(found.rate, found.precision, "burst before the first 429 left out")


@dataclass
class _State:
    cost: float | None = None  # reserved tokens per admitted request
    hypothesis: float | None = None
    source: str = ""
    clean_rate: float | None = None
    budget: dict[str, Any] | None = None
    concurrency_header: int | None = None
    explanation: list[str] = field(default_factory=list)
    saturations: list[tuple[StepStats, Saturation]] = field(default_factory=list)


class LimitSearch:
    """One find-limit run over a `StepRunner`; `run()` returns (steps, summary)."""

    def __init__(
        self,
        runner: StepRunner,
        on_step: OnStep | None,
        *,
        advertised: Callable[[], dict[str, Any]],
        deadline: float | None = None,
    ) -> None:
        self.runner = runner
        self.s: BenchSettings = runner.settings
        self.on_step = on_step
        self.advertised = advertised
        self.clock = runner.clock
        self.started = self.clock()
        self.deadline = deadline
        self.steps: list[StepStats] = []
        self.outlook = Outlook()
        self.state = _State()
        self.stop_reason = ""

    # -- steps ---------------------------------------------------------------------------

    def _time_left(self) -> float:
        return math.inf if self.deadline is None else self.deadline - self.clock()

    def _expect(self, phase: str, seconds: float) -> None:
        ends = self.clock() + seconds
        if self.deadline is not None:
            ends = min(ends, self.deadline)
        self.outlook = Outlook(phase, ends)

    async def _step(
        self,
        phase: str,
        rate: float,
        seconds: float,
        stop: Any = None,
        prefix: tuple[float, float] | None = None,
    ) -> StepStats | None:
        """One open-loop step without warm-up or cool-down (the state carries over on purpose)."""
        seconds = min(seconds, self._time_left() - DRAIN_ALLOWANCE)
        if seconds < 0.5 or len(self.steps) >= self.s.max_steps:
            return None
        plan = StepPlan(
            "find-limit",
            rate=rate,
            seconds=seconds,
            warmup=0.0,
            cooldown=0.0,
            phase=phase,
            max_requests=math.ceil(max(rate, prefix[0] if prefix else 0) * seconds) + 10,
            prefix_rate=None if prefix is None else prefix[0],
            prefix_seconds=0.0 if prefix is None else prefix[1],
        )
        stats = await self.runner.run(plan, stop)
        self.steps.append(stats)
        if self.on_step is not None:
            self.on_step(stats)
        return stats

    # -- phases --------------------------------------------------------------------------

    async def run(self) -> tuple[list[StepStats], dict[str, Any]]:
        """Probe, hypothesis, saturation; then the summary."""
        st = self.state
        self._expect("probe", self.s.probe_seconds + DRAIN_ALLOWANCE)
        probe = await self._probe()
        if probe is None:
            return self.steps, self._summary(None)
        st.concurrency_header = _concurrency_header(probe)
        if st.concurrency_header is not None:
            st.explanation.append(
                f"limit-requests {st.concurrency_header} never resets with time while requests "
                "are open: a concurrency limit, not a rate; ramping to confirm it"
            )
        st.hypothesis, st.source = self._from_headers()
        st.budget = self._daily_budget(probe)
        if st.budget is not None and st.hypothesis is None:
            return self.steps, self._summary(None)
        if st.hypothesis is not None:
            st.explanation.append(
                f"headers advertise {st.hypothesis * 60:,.0f} requests/min at this workload "
                f"({st.source}); saturating at {1 + self.s.overload:.2f}× that to check it"
            )
        else:
            st.hypothesis = await self._ramp(probe)
        if st.hypothesis is None:
            return self.steps, self._summary(None)
        offered = st.hypothesis * (1 + self.s.overload)
        found = await self._saturate(offered)
        while found is None and self._time_left() > 2 * DRAIN_ALLOWANCE:
            # no 429s at all: the limit is above the hypothesis (headers that understate
            # it, or a per-window figure read as per-minute); climb
            last = self.steps[-1] if self.steps else None
            if last is None or last.rate_limited_fraction > 0:
                break
            # all admitted: the limit is well above; climb faster
            offered = last.x * self.s.ramp_factor ** (2 if last.error_fraction == 0 else 1)
            st.explanation.append(
                f"no 429s at {last.x:,.2f}/s offered: the limit is higher; trying {offered:,.2f}/s"
            )
            found = await self._saturate(offered)
        estimate = None if found is None else Estimate.single(found)
        if found is not None and found.rate is not None:
            estimate = await self._ceiling(found)
        estimate = self._check_collapse(estimate)
        if estimate is not None:
            st.explanation.append(
                f"estimate {estimate.rate * 60:,.1f} requests/min "
                f"(±{estimate.precision or 0:.1%}); correction: {estimate.correction}"
            )
        return self.steps, self._summary(estimate)

    async def _ceiling(self, found: Saturation) -> Estimate | None:
        """Offer a little more than the estimate, evenly paced, while the endpoint admits it all.

        A sliding log under overload takes each freed slot only at the next arrival (plus
        network and event-loop jitter), so saturation admits a few per cent less than it
        allows, while evenly paced requests up to its limit pass. Each check opens with
        `CEILING_PREFIX_SECONDS` at three times the estimate, which empties a token bucket or
        GCRA (they would otherwise spend the burst refilled since the last step and pass
        for tens of seconds), then offers `CEILING_STEP` × the estimate; a 1 s log has
        forgotten the prefix after `CEILING_SETTLE_SECONDS`, and what follows is judged.
        A bucket then admits exactly its rate (4.8 % refused: the estimate stands); a log
        admits everything below its limit and its limit above it, so the estimate becomes
        the highest rate a check was admitted, and checks climb while they pass. Fixed
        windows (few phase points: whole windows counted, exact) and concurrency limits
        skip this.
        """
        est = Estimate.single(found)
        if est is None or found.rate is None or self.state.concurrency_header is not None:
            return est
        # a fixed window (whole windows counted: exact already) or a long one; a stall
        # can also merge a short limit's refusal runs into fewer, longer ones
        if found.phase_points < MIN_POINTS_FOR_CEILING or found.longest_refusal > MAX_RUN:
            return self._despite_pauses(est)
        s = self.s
        rate = est.rate
        for _ in range(CEILING_CHECKS):
            offered = rate * CEILING_STEP
            judged = max(s.ramp_seconds, s.min_admitted / offered)
            seconds = CEILING_PREFIX_SECONDS + CEILING_SETTLE_SECONDS + judged
            if self._time_left() < seconds + DRAIN_ALLOWANCE:
                break
            self._expect("ceiling check", seconds + DRAIN_ALLOWANCE)
            step = await self._step(
                "ceiling",
                offered,
                seconds,
                prefix=(rate * CEILING_PREFIX_OVERLOAD, CEILING_PREFIX_SECONDS),
            )
            if step is None or step.requests == 0:
                break
            t0 = min(x.start for x in step.samples)
            after = [
                x
                for x in step.samples
                if x.start >= t0 + CEILING_PREFIX_SECONDS + CEILING_SETTLE_SECONDS
            ]
            admitted = sum(1 for x in after if x.was_admitted)
            share = admitted / max(len(after), 1)
            refused = len(after) - admitted
            passed = bool(after) and refused <= max(CEILING_SLACK, len(after) * CEILING_SHARE)
            through = offered * share  # evenly paced: the admitted rate of the judged part
            self.state.explanation.append(
                f"ceiling check at {offered:,.3f}/s evenly paced: {share:.1%} admitted "
                f"= {through:,.3f}/s"
                + (" (the limit is at least that: checking higher)" if passed else "")
            )
            if through > rate:
                rate = through
                est = Estimate(
                    rate,
                    max(est.precision or 0.0, 1.0 / max(len(after), 1)),
                    "burst before the first 429 left out; raised to what an evenly paced "
                    "check above the saturation estimate was admitted (a sliding window "
                    "loses slots to arrival gaps under overload, not under even pacing)",
                )
            if not passed:
                break
        return self._despite_pauses(est)

    def _despite_pauses(self, est: Estimate) -> Estimate:
        """When the client stalled during saturation or a check, read the full windows instead.

        A stall leaves a sliding log's freed slots unused and, caught up as a bunch,
        echoes for seconds: saturation then reads low by about the stalled share of the
        time, and a check's pacing is no longer even, so it cannot raise the estimate.
        What a full window held before each 429 does not depend on when the client sent.
        """
        steps = [stats for stats, _ in self.state.saturations]
        steps += [x for x in self.steps if x.phase == "ceiling"]
        stalls = [x.send_lag_max for x in steps if x.send_lag_max is not None]
        if not stalls or max(stalls) <= PAUSE_SECONDS:
            return est
        step = self.state.saturations[-1][0]
        counted = window_count_rate(step.samples, CEILING_SETTLE_SECONDS)
        note = (
            f"the client stalled (a send {max(stalls) * 1000:.0f} ms behind schedule: "
            "garbage collection or a busy machine)"
        )
        if counted is None or counted <= est.rate:
            self.state.explanation.append(f"{note}; the estimate stands")
            return est
        self.state.explanation.append(
            f"{note}: a {CEILING_SETTLE_SECONDS:g} s window held {counted:,.0f} admitted "
            f"requests before each 429 (median), {counted:,.3f}/s"
        )
        return Estimate(
            counted,
            max(est.precision or 0.0, 1.0 / counted / CEILING_SETTLE_SECONDS),
            "burst before the first 429 left out; the client stalled, so raised to what a "
            f"full {CEILING_SETTLE_SECONDS:g} s window held before each 429 (stalls cost a "
            "sliding window admissions for seconds, not its full count)",
        )

    async def _probe(self) -> StepStats | None:
        """A few seconds at `start_rate`: headers, tokens per request, latency."""
        rate = self.s.start_rate
        while True:
            step = await self._step("probe", rate, self.s.probe_seconds)
            if step is None:
                self.stop_reason = "no time left for the probe"
                return None
            ok = [x for x in step.samples if x.is_ok]
            if ok:
                self.state.cost = sum(x.reserved_tokens for x in ok) / len(ok)
            if step.rate_limited_fraction <= self.s.error_threshold and ok:
                self.state.clean_rate = step.success_per_s
                return step
            if step.other_error_fraction > 0.5:
                self.stop_reason = (
                    f"{step.other_error_fraction:.0%} of probe requests failed: "
                    + ", ".join(f"{k}×{n}" for k, n in step.errors.items())
                )
                return None
            rate /= 4  # the limit is below the start rate
            self.state.explanation.append(f"429s at the probe rate; probing again at {rate:g}/s")
            if rate * self.s.probe_seconds < 2:
                self.stop_reason = "429s even below one request per probe"
                return step

    def _daily_budget(self, probe: StepStats) -> dict[str, Any] | None:
        """A request limit whose reset is hours away is a budget: read it, do not burn it.

        Checked against what the probe saw: the advertised remaining should fall by the
        requests the endpoint admitted (a day-long bucket refills only a sliver meanwhile).
        """
        adv = self.advertised()
        limit = adv.get("daily_requests")  # the transport's reading: reset hours away
        if not _limited(limit):
            limit = adv.get("limit_requests")
            if not (_limited(limit) and _is_long_period(adv.get("reset_requests"))):
                return None
        last = adv.get("remaining_requests")
        seen = [
            p.info.remaining_requests
            for p in probe.limits_trace
            if p.info.remaining_requests is not None
        ]
        admitted = sum(1 for x in probe.samples if x.was_admitted)
        # each admission takes one; the highest value seen is after the first of them
        fell = max(seen) - min(seen) + 1 if seen else None
        budget = {
            "limit": limit,
            "remaining": last,
            "reset_s": adv.get("reset_requests"),
            "admitted_in_probe": admitted,
            "remaining_fell_by": fell,
            "consistent": None if fell is None else abs(fell - admitted) <= max(2, admitted // 50),
        }
        self.state.explanation.append(
            f"limit-requests {limit:,} resets in {adv.get('reset_requests') or 0:,.0f} s: a "
            f"budget over a day, not a rate ({float(limit or 0) / 1440:,.2f} requests/min "
            "averaged); "
            f"the probe's {admitted} admitted requests lowered remaining by {fell}, "
            + ("as advertised" if budget["consistent"] else "NOT as advertised")
            + "; not spending the rest of the budget to measure it"
        )
        return budget

    def _from_headers(self) -> tuple[float | None, str]:
        """Requests/s the advertised per-minute limits allow at this workload's token cost."""
        adv = self.advertised()
        candidates: list[tuple[float, str]] = []
        requests = adv.get("limit_requests")
        if (
            isinstance(requests, int | float)
            and _limited(requests)
            and self.state.concurrency_header is None
            and not _is_long_period(adv.get("reset_requests"))
        ):
            candidates.append((requests / 60.0, f"limit-requests {requests:,}"))
        tokens = adv.get("limit_tokens")
        cost = self.state.cost
        if (
            isinstance(tokens, int | float)
            and _limited(tokens)
            and cost
            and not _is_long_period(adv.get("reset_tokens"))
        ):
            candidates.append(
                (tokens / 60.0 / cost, f"limit-tokens {tokens:,} ÷ {cost:.0f} tokens/request")
            )
        if not candidates:
            return None, ""
        rate, source = min(candidates)
        return rate, source

    async def _ramp(self, probe: StepStats) -> float | None:
        """Multiply the rate each short step until one shows sustained 429s."""
        st = self.state
        rate = probe.x * self.s.ramp_factor
        st.explanation.append(
            f"no per-minute limit in the headers: ramping ×{self.s.ramp_factor:g} "
            f"every {self.s.ramp_seconds:g} s "
            f"from {rate:g}/s until 429s"
        )
        while rate <= self.s.max_rate:
            steps_left = math.log(self.s.max_rate / rate) / math.log(self.s.ramp_factor)
            self._expect(
                "ramp", (steps_left + 1) * self.s.ramp_seconds + self.s.measure_seconds + 10
            )
            step = await self._step("ramp", rate, self.s.ramp_seconds)
            if step is None:
                self.stop_reason = "time or steps ran out during the ramp"
                return None
            if step.rate_limited_fraction > self.s.error_threshold:
                st.explanation.append(
                    f"429s set in at {rate:g}/s offered ({step.rate_limited_fraction:.0%}); "
                    f"{step.success_per_s:.2f}/s admitted there is the hypothesis"
                )
                return step.success_per_s
            if step.other_error_fraction > self.s.error_threshold:
                self.stop_reason = f"errors other than 429 at {rate:g}/s: {step.errors}"
                return None
            st.clean_rate = step.success_per_s
            rate *= self.s.ramp_factor
        self.stop_reason = f"reached max_rate {self.s.max_rate:g}/s without sustained 429s"
        return None

    async def _saturate(self, rate: float) -> Saturation | None:
        """One step at `rate` (above the limit), long enough for a stable admitted rate.

        Without a 429 within `measure_seconds` the step gives up (the limit is higher, or
        a stored burst lasts longer than that at this overload: the caller doubles).
        """
        s = self.s
        self._expect("saturation", s.measure_seconds + 2 * s.ramp_seconds + DRAIN_ALLOWANCE)

        def enough(samples: Any) -> bool:
            found = saturated_rate(samples)
            if found.rate is None:
                if not samples:
                    return False
                now = max(x.start for x in samples)
                if found.first_point is not None:  # one boundary seen: wait for the next
                    return bool(now - found.first_point > s.measure_max_seconds)
                if found.refused:  # a full window: its boundary will come
                    return False
                return bool(now - min(x.start for x in samples) > s.measure_seconds)
            need = max(
                s.measure_seconds - found.span, (s.min_admitted - found.admitted) / found.rate
            )
            self._expect("saturation", max(need, 0.0) + DRAIN_ALLOWANCE)
            return found.span >= s.measure_seconds and found.admitted >= s.min_admitted

        # the first phase point may be a window away, the second one window later
        step = await self._step("saturation", rate, 2 * s.measure_max_seconds, enough)
        if step is None:
            self.stop_reason = self.stop_reason or "time ran out before saturation"
            return None
        found = saturated_rate(step.samples, offered=rate)
        self.state.saturations.append((step, found))
        if found.rate is None and found.refused:
            self.stop_reason = (
                f"{found.refused} 429s at {rate:,.2f}/s but {found.phase_points} point(s) where "
                "the limit ran dry: a window longer than the step (raise measure_max_seconds "
                "or --max-duration)"
            )
            self.state.explanation.append(self.stop_reason)
        if found.rate is None:
            return None
        self.state.explanation.append(
            f"offered {rate:,.2f}/s for {step.window_seconds:.0f} s: {found.admitted} admitted "
            f"between the first and last of {found.phase_points} points where the limit ran dry "
            f"({found.span:.1f} s apart) = {found.rate:,.3f}/s (±{found.precision or 0:.1%}); "
            f"the {found.burst:.0f} requests admitted from the limiter's stored burst before "
            "the first 429 are left out"
        )
        return found

    def _check_collapse(self, found: Estimate | None) -> Estimate | None:
        """Admissions far below the clean rate under overload are not a rate limit's doing."""
        st = self.state
        if found is None or st.clean_rate is None:
            return found
        if found.rate >= COLLAPSE * st.clean_rate:
            return found
        st.explanation.append(
            f"admissions collapsed to {found.rate:.2f}/s under overload after "
            f"{st.clean_rate:.2f}/s ran clean: refused requests count against this limit "
            "(or a budget ran out), so the saturation estimate does not hold; "
            "the last clean rate stands"
        )
        return None

    # -- summary -------------------------------------------------------------------------

    def _summary(self, found: Estimate | None) -> dict[str, Any]:
        st = self.state
        adv = self.advertised()
        step = self._estimate_step()
        rps = None if found is None else found.rate
        method = "saturation"
        samples = [x for stats, _ in st.saturations for x in stats.samples]
        dimension = self._dimension(rps, samples, adv)
        if rps is None and st.budget is not None:
            rps, method, dimension = st.budget["limit"] / 86_400, "headers", "requests_per_day"
        elif rps is None and st.clean_rate is not None and self.stop_reason == "":
            rps, method = st.clean_rate, "last clean rate"
        cost = st.cost
        tpm_reserved = None if rps is None or cost is None else rps * 60 * cost
        used = _used_tokens_per_request(samples)
        onset = [x.x for x in self.steps if x.rate_limited_fraction > self.s.error_threshold]
        summary: dict[str, Any] = {
            "stop_reason": self.stop_reason or f"estimated by {method}",
            "method": method,
            "binding_dimension": dimension,
            "sustainable_rps": rps,
            "sustainable_rpm": None if rps is None else rps * 60,
            "sustainable_tpm_reserved": tpm_reserved,
            "sustainable_tpm": None if rps is None or used is None else rps * 60 * used,
            "reserved_tokens_per_request": cost,
            "precision": None if found is None else found.precision,
            "hypothesis_rps": st.hypothesis,
            "hypothesis_source": st.source or ("ramp" if st.hypothesis else None),
            "saturation": [sat.to_dict() for _, sat in st.saturations],
            "correction": None if found is None else found.correction,
            "onset_rate_429": min(onset, default=None),
            "onset_rpm_429": None if not onset else min(onset) * 60,
            "explanation": list(st.explanation),
            "daily_budget": st.budget,
            "duration_s": self.clock() - self.started,
            "peak": step_point(step),
        }
        if dimension == "concurrency":
            observed = concurrency_cap(samples)
            summary["sustainable_concurrency"] = observed or st.concurrency_header
            summary["advertised_concurrency"] = st.concurrency_header
        return summary

    def _estimate_step(self) -> StepStats | None:
        """The step the estimate came from (the last saturation), else the last clean one."""
        if self.state.saturations:
            return self.state.saturations[-1][0]
        clean = [x for x in self.steps if x.rate_limited_fraction <= self.s.error_threshold]
        return clean[-1] if clean else None

    def _dimension(
        self, rps: float | None, samples: list[Sample], adv: dict[str, Any]
    ) -> str | None:
        """What binds: a concurrency header, the 429s' own word, else the nearer advert.

        Some servers word a concurrency refusal as a request rate limit, so "requests"
        yields to a clear concurrency pattern in the in-flight counts.
        """
        if self.state.concurrency_header is not None:
            return "concurrency"
        named = named_dimension(samples)
        if named is not None and named != "requests":
            return named
        if samples and concurrency_cap(samples) is not None:
            return "concurrency"
        if named is not None:
            return named
        if rps is None:
            return None
        ratios: list[tuple[float, str]] = []
        if _limited(adv.get("limit_requests")):
            ratios.append((abs(math.log(rps * 60 / adv["limit_requests"])), "requests"))
        cost = self.state.cost
        if _limited(adv.get("limit_tokens")) and cost:
            ratios.append((abs(math.log(rps * 60 * cost / adv["limit_tokens"])), "tokens"))
        return min(ratios)[1] if ratios else None


def _concurrency_header(step: StepStats) -> int | None:
    """The request limit, when it cannot be per minute and nothing resets with time.

    A concurrency limit reports free slots with a reset of 0. So can a bucket refilled
    within the second (Anthropic's RFC 3339 resets are whole seconds), so the reading
    counts only when the probe itself was admitted at more requests per minute than
    the "limit" allows: then it is not a rate.
    """
    points = [p.info for p in step.limits_trace if p.info.limit_requests]
    if not points or any(info.reset_requests != 0 for info in points):
        return None
    limit = points[-1].limit_requests
    assert limit is not None
    if step.rate_limited == 0 and step.success_per_s * 60 > 1.5 * limit:
        return limit
    return None


def _limited(value: Any) -> bool:
    """A usable advertised limit: a positive number (Azure's -1 means "not limited")."""
    return isinstance(value, int | float) and value > 0


def _is_long_period(reset: Any) -> bool:
    """A reset further away than a minute: a daily budget, not a per-minute rate."""
    return isinstance(reset, int | float) and reset > 120.0


def _used_tokens_per_request(samples: list[Sample]) -> float | None:
    ok = [x for x in samples if x.is_ok]
    if not ok:
        return None
    return sum(x.prompt_tokens + x.completion_tokens for x in ok) / len(ok)


def step_point(step: StepStats | None) -> dict[str, Any] | None:
    """The headline figures of one step, for summaries and the suggested concurrency."""
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


def monotonic_deadline(max_duration: float | None, clock: Callable[[], float]) -> float | None:
    """The clock reading at which a profile capped at `max_duration` seconds must stop."""
    return None if max_duration is None else clock() + max_duration


__all__ = ["LimitSearch", "Outlook", "monotonic_deadline"]
