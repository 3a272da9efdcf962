"""Assemble report.json from one streaming pass over a run directory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from asyncgen.config import DedupSettings, RunConfig
from asyncgen.errors import StoreError
from asyncgen.export.reader import ReadReport
from asyncgen.report.browse import BrowserData
from asyncgen.report.collect import RunTally, collect
from asyncgen.report.coverage import (
    Coverage,
    build_coverage,
    largest_deviations,
    targets_from_config,
)
from asyncgen.report.diversity import (
    nearest_neighbour_similarity,
    similarity_summary,
    text_diversity,
)
from asyncgen.report.headline import headline
from asyncgen.report.reader import iter_jsonl, read_json
from asyncgen.report.references import reference_diversity
from asyncgen.report.text_stats import describe
from asyncgen.store.ledger import LedgerTotals, read_ledger
from asyncgen.store.rundir import RunLayout


def build_report(
    run_dir: Path,
    *,
    sample_size: int = 2000,
    seed: int = 0,
    embed: bool = True,
    browser: BrowserData | None = None,
) -> tuple[dict[str, Any], list[Coverage], RunTally]:
    """Compute every figure of the dataset report (and fill `browser` when given).

    Raises:
        StoreError: `run_dir` is not a directory.
    """
    if not run_dir.is_dir():
        raise StoreError(f"{run_dir}: not a run directory")
    layout = RunLayout.in_dir(run_dir)
    config = read_json(layout.config)
    summary = read_json(layout.summary)
    tally = collect(run_dir, sample_size, seed, browser)
    pipeline = tally.pipelines.most_common(1)[0][0] if tally.pipelines else "unknown"
    coverages = build_coverage(tally.counters, targets_from_config(config, pipeline))
    report: dict[str, Any] = {
        "run_dir": str(run_dir),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "pipeline": pipeline,
        "records": tally.records,
        "target": _target(summary, config),
        "status": summary.get("status") or "unknown",
        "simulated": bool(
            summary.get("simulated") or config.get("llm", {}).get("provider") == "simulator"
        ),
        "validity": validity(tally),
        "diversity": diversity(tally, config, pipeline, embed=embed),
        "coverage": {c.name: c.to_json() for c in coverages},
        "largest_deviations": largest_deviations(coverages),
        "length": lengths(tally, config, pipeline),
        "cost": cost(summary, tally.records, read_ledger(run_dir), layout.metrics),
        "noise": noise(tally, config),
        "quality": quality(tally),
        "missing_fields": dict(tally.missing_fields),
        "unreadable_lines": {
            "count": tally.problems.skipped_lines,
            "examples": tally.problems.locations,
        },
        "summary_found": bool(summary),
    }
    report["headline"] = headline(report)
    return report, coverages, tally


def _target(summary: dict[str, Any], config: dict[str, Any]) -> int | None:
    """The n the run was asked for: the summary's target, else the config's engine.n."""
    for value in (summary.get("target"), (config.get("engine") or {}).get("n")):
        if isinstance(value, int):
            return value
    return None


def quality(tally: RunTally) -> dict[str, Any]:
    """Mean judge score per criterion over the records that carry `quality.scores`."""
    means = {
        name: round(total / tally.judge_counts[name], 3)
        for name, total in sorted(tally.judge_sums.items())
        if tally.judge_counts[name]
    }
    return {"judged_records": tally.judged, "records": tally.records, "means": means}


def validity(tally: RunTally) -> dict[str, Any]:
    """Shares of all outcomes: valid first time, valid after retries, rejected, failed."""
    rejected, failed = sum(tally.rejected.values()), sum(tally.failed.values())
    total = tally.records + rejected + failed

    def share(n: int) -> float:
        return round(n / total, 4) if total else 0.0

    return {
        "outcomes": total,
        "valid_first_parse": share(tally.first_parse),
        "valid_after_retries": share(tally.after_retries),
        "valid_attempts_unknown": share(tally.attempts_unknown),
        "rejected": share(rejected),
        "failed": share(failed),
        "rejected_by_cause": dict(tally.rejected),
        "duplicates": tally.rejected.get("duplicate", 0),
        "failed_by_cause": dict(tally.failed),
    }


def diversity(
    tally: RunTally, config: dict[str, Any], pipeline: str, *, embed: bool
) -> dict[str, Any]:
    """Text diversity per side, against a human-written reference, plus NN similarity."""
    result: dict[str, Any] = {
        "user_turns": text_diversity(tally.user_sample.items),
        "assistant_turns": text_diversity(tally.assistant_sample.items),
        "reference": reference_diversity(
            config, pipeline, tally.user_sample.items, tally.assistant_sample.items
        ),
    }
    # the samples are bounded; the page says "K of N" against every turn read
    result["user_turns"]["turns_read"] = tally.user_sample.seen
    result["assistant_turns"]["turns_read"] = tally.assistant_sample.seen
    if embed:
        result["nearest_neighbour"] = _nn_similarity(tally, config)
        result["nearest_neighbour"]["records_read"] = tally.record_sample.seen
    return result


def _nn_similarity(tally: RunTally, config: dict[str, Any]) -> dict[str, Any]:
    """Embed a record sample the way the run's dedup gate did, on the gate's own scale."""
    from asyncgen.dedup import effective_threshold, load_embedder, record_text

    settings = _dedup_settings(config)
    texts = [t for r in tally.record_sample.items if (t := record_text(r, settings))]
    if len(texts) < 2:
        return {"count": len(texts)}
    vectors = np.asarray(load_embedder(settings).encode(texts), dtype=np.float32)
    threshold = effective_threshold(settings, settings.embedder)
    summary = similarity_summary(nearest_neighbour_similarity(vectors), threshold)
    summary["embedder"] = settings.embedder
    return summary


def _dedup_settings(config: dict[str, Any]) -> DedupSettings:
    """The run's dedup settings; defaults when the snapshot is from another version."""
    from asyncgen.dedup import settings_for

    try:
        return settings_for(RunConfig.model_validate(config))
    except ValidationError:
        return DedupSettings()


def lengths(tally: RunTally, config: dict[str, Any], pipeline: str) -> dict[str, Any]:
    """Words and tokens per turn and per record, turns per record, the planned turn range."""
    return {
        "planned_turns": _planned_turns(config, pipeline),
        "words_per_turn_histogram": {str(k): v for k, v in sorted(tally.words_per_turn.items())},
        "tokens_per_record_histogram": {
            str(k): v for k, v in sorted(tally.tokens_per_record.items())
        },
        "words_per_turn": describe(tally.words_per_turn),
        "tokens_per_turn": describe(tally.tokens_per_turn),
        "words_per_record": describe(tally.words_per_record),
        "tokens_per_record": describe(tally.tokens_per_record),
        "turns_per_record": describe(tally.turns_per_record),
        "turns_histogram": {str(k): v for k, v in sorted(tally.turns_per_record.items())},
    }


def _planned_turns(config: dict[str, Any], pipeline: str) -> dict[str, int] | None:
    """The turn range the run asked for (user turns), from its config snapshot."""
    if pipeline == "dialogue":
        section = config.get("dialogue") or {}
        low, high = section.get("min_turns"), section.get("max_turns")
        low = min(low) if isinstance(low, list) and low else low
        high = max(high) if isinstance(high, list) and high else high
    else:
        section = config.get("interaction_generation") or {}
        low, high = section.get("min_turns"), section.get("max_turns")
    if isinstance(low, int) and isinstance(high, int):
        return {"min": low, "max": high}
    return None


def session_totals(metrics: Path) -> dict[str, float] | None:
    """Tokens and cost summed over every session (each session's last metrics line).

    For runs made before the ledger: their summary.json counts only the last session, so
    a resume that had nothing to do would otherwise report a run that cost nothing.
    """
    last: dict[str, dict[str, Any]] = {}
    problems = ReadReport(on_problem=None)
    for line in iter_jsonl(metrics, problems):
        last[str(line.get("session", ""))] = line
    if not last:
        return None
    return {
        key: float(sum(float(line.get(key) or 0.0) for line in last.values()))
        for key in ("tokens_in", "tokens_out", "cost_usd")
    }


def cost(
    summary: dict[str, Any],
    records: int,
    ledger: LedgerTotals | None = None,
    metrics: Path | None = None,
) -> dict[str, Any]:
    """Tokens and cost per accepted record: the run's ledger (every session), else its
    summary and metrics lines."""
    if ledger is not None:
        spend = ledger.total
        return {
            "source": "ledger",
            "requests": spend.requests,
            "tokens_in": spend.tokens_in,
            "tokens_out": spend.tokens_out,
            "tokens_cached": spend.tokens_cached,
            "cost_usd": round(spend.cost_usd, 6),
            "tokens_per_record": round(spend.tokens / records, 6) if records else None,
            "cost_per_record_usd": round(spend.cost_usd / records, 6) if records else None,
            "by_stage": {k: v.to_dict() for k, v in sorted(ledger.by_kind.items())},
        }
    tokens = summary.get("tokens") if isinstance(summary.get("tokens"), dict) else {}
    tokens_in = _number(summary, "tokens_in", tokens.get("in") if tokens else None)
    tokens_out = _number(summary, "tokens_out", tokens.get("out") if tokens else None)
    cost_usd = _number(summary, "cost_usd", summary.get("cost"))
    source = "summary"
    totals = session_totals(metrics) if metrics is not None else None
    if totals is not None:
        source = "metrics"
        tokens_in = max(tokens_in or 0.0, totals["tokens_in"])
        tokens_out = max(tokens_out or 0.0, totals["tokens_out"])
        cost_usd = max(cost_usd or 0.0, round(totals["cost_usd"], 6))

    def per(value: float | None) -> float | None:
        return round(value / records, 6) if records and value is not None else None

    return {
        "source": source,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost_usd": cost_usd,
        "tokens_per_record": per(None if tokens_in is None else tokens_in + (tokens_out or 0)),
        "cost_per_record_usd": per(cost_usd),
    }


def _number(source: dict[str, Any], key: str, fallback: Any) -> float | None:
    value = source.get(key, fallback)
    return float(value) if isinstance(value, int | float) else None


def noise(tally: RunTally, config: dict[str, Any]) -> dict[str, Any]:
    """Realised noise rate and edit rates per strategy, against the distractor config."""
    distractor = config.get("distractor") or {}
    total = tally.user_turns_total
    return {
        "user_turns": total,
        "noised_user_turns": tally.noised_user_turns,
        "realised_noise_rate": round(tally.noised_user_turns / total, 4) if total else 0.0,
        "configured_noise_probability": distractor.get("noise_probability"),
        "configured_char_noise_rate": distractor.get("char_noise_rate"),
        "per_strategy": {k: v.to_json() for k, v in sorted(tally.noise.items())},
    }
