"""A finished benchmark: its steps, findings, advertised limits and suggested settings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from asyncgen.bench._advert import compare_limits, disagreements
from asyncgen.bench._profiles import ProfileOutcome
from asyncgen.bench._stats import StepStats
from asyncgen.errors import StoreError

TRANSPORT_NOTE = (
    "Measured through asyncgen's transport with retries OFF (max_retries=0) and the "
    "client-side rate limiter OFF: every figure is the endpoint's own behaviour, and "
    "every failed attempt is counted as it happened."
)
JSON_NAME = "bench.json"
CONFIG_NAME = "suggested_config.yaml"


@dataclass
class BenchResult:
    """Everything `bench.json` holds."""

    profile: str
    base_url: str
    model: str
    started_at: str
    finished_at: str
    settings: dict[str, Any]
    steps: list[StepStats]
    summary: dict[str, Any]
    advertised: dict[str, Any] = field(default_factory=dict)
    suggested: dict[str, Any] = field(default_factory=dict)
    workload: dict[str, Any] = field(default_factory=dict)
    transport: dict[str, Any] = field(
        default_factory=lambda: {"max_retries": 0, "limiter": False, "note": TRANSPORT_NOTE}
    )

    @classmethod
    def build(
        cls, outcome: ProfileOutcome, *, advertised: dict[str, Any], headroom: float, **meta: Any
    ) -> BenchResult:
        """Wrap a profile's outcome and derive the suggested limits."""
        result = cls(
            profile=outcome.profile,
            steps=outcome.steps,
            summary=outcome.summary,
            advertised=advertised,
            **meta,
        )
        if result.profile == "find-limit":
            rows = compare_limits(result.summary, advertised)
            result.summary["headers_vs_observed"] = rows
            result.summary["disagreements"] = disagreements(rows)
        result.suggested = suggest_limits(result, headroom)
        return result

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, steps expanded with their derived fractions."""
        return {
            "profile": self.profile,
            "endpoint": {"base_url": self.base_url, "model": self.model},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "transport": self.transport,
            "settings": self.settings,
            "summary": self.summary,
            "advertised_limits": self.advertised,
            "workload": self.workload,
            "suggested_config": self.suggested,
            "steps": [s.to_dict() for s in self.steps],
        }


def suggest_limits(result: BenchResult, headroom: float) -> dict[str, Any]:
    """`llm.limits` values to paste into a config, with `headroom` below what was measured.

    TPM counts reserved tokens (prompt + max_tokens), as endpoints and our limiter charge.
    RPM and TPM are only suggested when a rate limit was actually met (429s), and only
    the dimensions the endpoint advertises when it advertises one but not the other;
    the rest stay out so the transport learns them from headers. Concurrency is the
    lowest sweep level that reaches peak throughput without errors, else twice Little's
    law (rate × p99 latency), at least 2.
    """
    s = result.summary
    limits: dict[str, Any] = {"rpm": None, "tpm": None, "concurrency": None}
    peak = s.get("peak") or {}
    limited = any(st.rate_limited_fraction > 0 for st in result.steps)
    if result.profile == "find-limit" and s.get("sustainable_rpm"):
        limits["rpm"] = int(s["sustainable_rpm"] * headroom)
        limits["tpm"] = int((s.get("sustainable_tpm_reserved") or 0) * headroom) or None
        binding = s.get("binding_dimension")
        if binding in ("tokens", "input_tokens", "output_tokens"):
            limits["rpm"] = None  # requests/min then depends on the workload's tokens
        elif binding == "requests":
            limits["tpm"] = None  # tokens were never the limit here
        elif binding == "concurrency":
            limits["rpm"] = limits["tpm"] = None
    elif limited and peak:
        limits["rpm"] = int(peak["sustained_success_per_s"] * 60 * headroom)
        limits["tpm"] = int(peak["sustained_reserved_tokens_per_min"] * headroom) or None
    adv = result.advertised
    if adv.get("limit_tokens") and not adv.get("limit_requests"):
        limits["rpm"] = None  # the endpoint limits tokens only: RPM depends on the workload
    if adv.get("limit_requests") and not adv.get("limit_tokens"):
        limits["tpm"] = None  # and the other way round
    if result.profile == "sweep":
        limits["concurrency"] = s.get("recommended_concurrency")
    elif s.get("sustainable_concurrency"):
        limits["concurrency"] = int(s["sustainable_concurrency"])
    elif peak and peak.get("latency_p99"):
        needed = math.ceil(peak["success_per_s"] * peak["latency_p99"] * 2)
        # find-limit's saturation step overloads on purpose: its in-flight peak is not a need
        seen = 0 if result.profile == "find-limit" else peak.get("max_in_flight") or 0
        limits["concurrency"] = max(2, needed, seen)
    out: dict[str, Any] = {"llm": {"limits": {k: v for k, v in limits.items() if v is not None}}}
    plan = generate_plan(result, headroom)
    if plan:
        out["engine"] = {"max_workers": plan["max_workers"]}
        result.summary["generate_plan"] = plan
    return out


def generate_plan(result: BenchResult, headroom: float) -> dict[str, Any] | None:
    """What the measured limit means for `generate`: conversations per minute and workers.

    A conversation makes `calls_per_conversation` calls one after another, so the limit
    in requests per minute carries that many times fewer conversations; each worker holds
    one conversation and so one call in flight, so the workers that keep the limit busy
    are (limit per second × call latency), whatever the calls per conversation.
    """
    s, w = result.summary, result.workload
    rpm = s.get("sustainable_rpm")
    peak = s.get("peak") or {}
    calls = float(w.get("calls_per_conversation") or 1.0)
    latency = peak.get("latency_p50")
    if not rpm or not latency:
        return None
    usable = rpm * headroom
    workers = max(2, math.ceil(usable / 60.0 * latency * 1.5))
    return {
        "calls_per_conversation": calls,
        "conversations_per_min": usable / calls,
        "max_workers": workers,
        "why": (
            f"{usable:,.0f} requests/min ({headroom:g} × measured) ÷ {calls:.2f} calls per "
            f"conversation = {usable / calls:,.1f} conversations/min; workers = requests/s × "
            f"{latency:.2f} s median latency × 1.5, one call in flight per worker"
        ),
    }


def _n(value: Any, unit: str = "") -> str:
    return "–" if value is None else f"{value:,.0f}{unit}"


def headline(result: BenchResult) -> list[str]:
    """The findings in a few plain sentences, for the console and the report."""
    s, adv = result.summary, result.advertised
    lines: list[str] = []
    if result.profile == "find-limit":
        precision = s.get("precision")
        lines.append(
            f"Sustainable: {_n(s.get('sustainable_rpm'))} RPM and "
            f"{_n(s.get('sustainable_tpm_reserved'))} TPM reserved (prompt + max_tokens; "
            f"{_n(s.get('sustainable_tpm'))} used)"
            + ("" if precision is None else f", ±{precision:.1%}")
            + f"; binding: {s.get('binding_dimension') or '–'}; advertised "
            f"{_n(adv.get('limit_requests'))} RPM and {_n(adv.get('limit_tokens'))} TPM."
        )
        if s.get("sustainable_concurrency"):
            lines.append(f"Concurrency limit: {s['sustainable_concurrency']} in flight.")
        lines.append(f"Found in {s.get('duration_s') or 0:.0f} s by {s.get('method') or '–'}; how:")
        lines += [f"  - {step}" for step in s.get("explanation") or []]
        for text in s.get("disagreements") or []:
            lines.append(f"Headers disagree: {text}.")
        plan = s.get("generate_plan")
        if plan:
            lines.append(f"For generate: {plan['why']}.")
    elif result.profile == "slo":
        peak = s.get("peak") or {}
        lines.append(
            f"Highest {s.get('variable')} meeting {', '.join(s.get('slos') or [])}: "
            f"{s.get('max_meeting_slos') or '–'} (first failing: {s.get('first_failing') or '–'});"
            f" goodput {s.get('goodput_per_s') or 0:.2f} requests/s meeting every SLO; "
            f"{peak.get('success_per_s', 0):.2f} answers/s."
        )
        for event in s.get("over_saturation") or []:
            lines.append(f"Over-saturation: {event}.")
    elif result.profile == "sweep":
        peak = s.get("peak") or {}
        lines.append(
            f"Highest clean concurrency: {s.get('max_clean_concurrency') or '–'} "
            f"(first failing: {s.get('first_failing_concurrency') or '–'}); peak "
            f"{peak.get('success_per_s', 0):.2f} successful requests/s at {_n(peak.get('x'))}; "
            f"throughput within {result.settings.get('min_gain', 0.1):.0%} of peak from "
            f"{s.get('knee_concurrency') or '–'}."
        )
    else:
        lines.append(
            f"Highest clean rate: {s.get('highest_clean_rate') or '–'} requests/s; "
            f"429s from {s.get('onset_rate_429') or '–'} requests/s."
        )
    lines.append(f"Stopped: {s.get('stop_reason')}.")
    return lines


def config_text(result: BenchResult) -> str:
    """The suggested block as commented YAML, ready to paste under `config/`."""
    head = [
        f"# Suggested by `asyncgen bench {result.profile}` against {result.base_url}",
        f"# (model {result.model}) at {result.finished_at}.",
        f"# Limits are the measured ones × {result.settings.get('headroom', 1.0)} headroom;",
        "# keys left out were not measured here (the transport learns them from headers).",
    ]
    body = yaml.safe_dump(result.suggested, sort_keys=False).rstrip()
    return "\n".join(head) + "\n" + body + "\n"


def write_outputs(result: BenchResult, out_dir: Path) -> dict[str, Path]:
    """Write bench.json and suggested_config.yaml into `out_dir`; return their paths.

    Raises:
        StoreError: the directory cannot be created or written.
    """
    paths = {"json": out_dir / JSON_NAME, "config": out_dir / CONFIG_NAME}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        opts = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY
        paths["json"].write_bytes(orjson.dumps(result.to_dict(), option=opts))
        paths["config"].write_text(config_text(result), encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"{out_dir}: cannot write benchmark results ({exc.strerror})") from exc
    return paths
