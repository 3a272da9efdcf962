"""Endpoint benchmark: how many requests and tokens per minute a key really sustains.

Profiles: a concurrency sweep, fixed (constant or Poisson) request rates, and
find-limit, which ramps the rate until sustained 429s and bisects to the limit. Every
request goes through asyncgen's transport with retries and the client-side limiter off,
so the figures are the endpoint's own.
"""

from asyncgen.bench._html import render_html, write_report
from asyncgen.bench._probe import HeaderTap, TransportProbe
from asyncgen.bench._profiles import PROFILES, ProfileOutcome, find_limit, rates, run_profile, sweep
from asyncgen.bench._result import TRANSPORT_NOTE, BenchResult, config_text, suggest_limits
from asyncgen.bench._run import Target, print_summary, run_bench
from asyncgen.bench._sample import LimitSample, Sample, classify
from asyncgen.bench._stats import StepStats, percentile, summarise
from asyncgen.bench._step import Reply, StepPlan, StepRunner
from asyncgen.bench._workload import FileWorkload, FixedWorkload, load_prompts, make_workload

__all__ = [
    "PROFILES",
    "TRANSPORT_NOTE",
    "BenchResult",
    "FileWorkload",
    "FixedWorkload",
    "HeaderTap",
    "LimitSample",
    "ProfileOutcome",
    "Reply",
    "Sample",
    "StepPlan",
    "StepRunner",
    "StepStats",
    "Target",
    "TransportProbe",
    "classify",
    "config_text",
    "find_limit",
    "load_prompts",
    "make_workload",
    "percentile",
    "print_summary",
    "rates",
    "render_html",
    "run_bench",
    "run_profile",
    "suggest_limits",
    "summarise",
    "sweep",
    "write_report",
]
