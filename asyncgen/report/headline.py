"""The headline strip: each key figure with a verdict, in words, pointing into report.json.

Every tile names the `path` of its value in report.json, so the page, the terminal table
and the tests read the same number.
"""

from __future__ import annotations

from typing import Any

from asyncgen.report.labels import label

GOOD, WARN, BAD, INFO = "good", "warn", "bad", "info"


def share(value: float | None) -> str:
    """0.9731 → '97.3 %'."""
    return "—" if value is None else f"{value * 100:.1f} %"


def count(value: float | None) -> str:
    """1234 → '1,234'."""
    return "—" if value is None else f"{value:,.0f}"


def money(value: float | None) -> str:
    """USD with enough digits to be non-zero."""
    if value is None:
        return "—"
    if value == 0 or value >= 1:
        return f"${value:,.2f}"
    return f"${value:.2g}" if value < 0.001 else f"${value:.4f}"


def _tile(
    key: str, title: str, path: str, value: Any, display: str, verdict: str, **extra: Any
) -> dict[str, Any]:
    tile: dict[str, Any] = {
        "key": key,
        "label": title,
        "path": path,
        "value": value,
        "display": display,
        "verdict": verdict,
    }
    tile.update({k: v for k, v in extra.items() if v is not None})
    return tile


def headline(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The tiles in reading order."""
    return [
        _records(report),
        _first_parse(report),
        _causes(report, "rejects", "Rejected", "validity.rejected_by_cause"),
        _causes(report, "failures", "Failed", "validity.failed_by_cause"),
        _duplicates(report),
        _cost(report),
        _judge(report),
        _distinct(report),
        _similarity(report),
        _coverage(report),
    ]


def _records(report: dict[str, Any]) -> dict[str, Any]:
    records, target = report["records"], report.get("target")
    if target is None:
        return _tile("records", "Records", "records", records, count(records), INFO)
    verdict = GOOD if records >= target else WARN
    status = str(report.get("status") or "unknown")
    detail = f"run status: {label(status).lower()}"
    if records < target:
        detail += f"; {count(target - records)} short"
    return _tile(
        "records",
        "Records against n",
        "records",
        records,
        f"{count(records)} of {count(target)}",
        verdict,
        detail=detail,
    )


def _first_parse(report: dict[str, Any]) -> dict[str, Any]:
    validity = report["validity"]
    value = validity["valid_first_parse"]
    verdict = GOOD if value >= 0.9 else WARN if value >= 0.7 else BAD
    if not validity["outcomes"]:
        verdict = INFO
    detail = (
        f"of {count(validity['outcomes'])} outcomes; "
        f"{share(validity['valid_after_retries'])} valid after retries"
    )
    if validity.get("valid_attempts_unknown"):
        detail += f"; {share(validity['valid_attempts_unknown'])} did not record attempts"
    return _tile(
        "first_parse",
        "Valid on first parse",
        "validity.valid_first_parse",
        value,
        share(value),
        verdict,
        detail=detail,
    )


def _causes(report: dict[str, Any], key: str, title: str, path: str) -> dict[str, Any]:
    section, name = path.split(".")
    causes: dict[str, int] = report[section][name]
    total = sum(causes.values())
    outcomes = report["validity"]["outcomes"]
    parts = [
        {"label": label(cause), "value": n, "display": count(n)}
        for cause, n in sorted(causes.items(), key=lambda kv: -kv[1])
    ]
    rate = total / outcomes if outcomes else 0.0
    verdict = GOOD if rate < 0.05 else WARN if rate < 0.2 else BAD
    detail = "none" if not total else f"{share(total / outcomes)} of outcomes, replaced"
    return _tile(
        key,
        title,
        path,
        total,
        count(total),
        verdict,
        detail=detail,
        parts=parts,
        sum_of=path,
    )


def _duplicates(report: dict[str, Any]) -> dict[str, Any]:
    value = report["validity"]["duplicates"]
    outcomes = report["validity"]["outcomes"]
    nn = report["diversity"].get("nearest_neighbour") or {}
    detail = f"{share(value / outcomes if outcomes else 0.0)} of outcomes caught by the gate"
    if nn.get("count"):
        detail += (
            f"; {share(nn['share_at_or_above_threshold'])} of {count(nn['count'])} sampled "
            "records sit at or above the bar"
        )
    verdict = GOOD if not nn.get("share_at_or_above_threshold") else WARN
    return _tile(
        "duplicates",
        "Near-duplicates rejected",
        "validity.duplicates",
        value,
        count(value),
        verdict,
        detail=detail,
    )


def _cost(report: dict[str, Any]) -> dict[str, Any]:
    cost = report["cost"]
    value = cost["cost_per_record_usd"]
    detail = f"{money(cost['cost_usd'])} in all"
    if cost.get("tokens_per_record") is not None:
        detail += f"; {count(cost['tokens_per_record'])} tokens per record"
    if report.get("simulated"):
        detail += " (simulator, at the configured prices)"
    stages = cost.get("by_stage") or {}
    parts = [
        {"label": label(kind), "value": spend["cost_usd"], "display": money(spend["cost_usd"])}
        for kind, spend in sorted(stages.items(), key=lambda kv: -kv[1].get("cost_usd", 0.0))
    ]
    return _tile(
        "cost",
        "Cost per accepted record",
        "cost.cost_per_record_usd",
        value,
        money(value),
        INFO,
        detail=detail,
        parts=parts or None,
    )


def _judge(report: dict[str, Any]) -> dict[str, Any]:
    quality = report.get("quality") or {}
    means: dict[str, float] = quality.get("means") or {}
    path, source = "quality.means", "scored in the run"
    judged = quality.get("judged_records", 0)
    if not means and (report.get("judge") or {}).get("means"):
        means, path = report["judge"]["means"], "judge.means"
        judged, source = report["judge"].get("judged", 0), "scored after the run, on a sample"
    if not means:
        return _tile(
            "judge",
            "Judge scores",
            "quality.means",
            None,
            "not judged",
            INFO,
            detail="records carry no judge scores",
        )
    overall = round(sum(means.values()) / len(means), 3)
    verdict = GOOD if overall >= 4 else WARN if overall >= 3 else BAD
    parts = [{"label": label(k), "value": v, "display": f"{v:.2f}"} for k, v in means.items()]
    return _tile(
        "judge",
        "Judge scores (1–5)",
        path,
        overall,
        f"{overall:.2f} / 5",
        verdict,
        detail=f"mean of {len(means)} criteria over {count(judged)} records, {source}",
        parts=parts,
        mean_of=path,
    )


def _distinct(report: dict[str, Any]) -> dict[str, Any]:
    reference = report["diversity"].get("reference") or {}
    users = reference.get("user_turns")
    if not users:
        value = report["diversity"]["user_turns"]["distinct_2"]
        return _tile(
            "distinct",
            "Distinct word pairs (user turns)",
            "diversity.user_turns.distinct_2",
            value,
            f"{value:.2f}",
            INFO,
            detail="no reference sample to compare with",
        )
    run, ref = users["run"]["distinct_2"], users["reference"]["distinct_2"]
    ratio = run / ref if ref else 1.0
    verdict = GOOD if ratio >= 0.8 else WARN if ratio >= 0.5 else BAD
    return _tile(
        "distinct",
        "Distinct word pairs (user turns)",
        "diversity.reference.user_turns.run.distinct_2",
        run,
        f"{run:.2f}",
        verdict,
        detail=f"on {count(users['turns'])} turns each",
        reference={
            "value": ref,
            "display": f"{ref:.2f}",
            "path": "diversity.reference.user_turns.reference.distinct_2",
            "source": reference.get("source"),
        },
    )


def _similarity(report: dict[str, Any]) -> dict[str, Any]:
    nn = report["diversity"].get("nearest_neighbour") or {}
    if not nn.get("count") or nn.get("mean") is None:
        return _tile(
            "similarity",
            "Nearest-neighbour similarity",
            "diversity.nearest_neighbour.mean",
            None,
            "not measured",
            INFO,
            detail="`asyncgen report RUN` embeds a sample of records",
        )
    verdict = GOOD if nn["p90"] < nn["threshold"] else WARN
    return _tile(
        "similarity",
        "Nearest-neighbour similarity",
        "diversity.nearest_neighbour.mean",
        nn["mean"],
        f"{nn['mean']:.3f}",
        verdict,
        detail=f"mean over {count(nn['count'])} sampled records; 9 in 10 below {nn['p90']:.3f}",
        reference={
            "value": nn["threshold"],
            "display": f"{nn['threshold']:.3f}",
            "path": "diversity.nearest_neighbour.threshold",
            "source": f"the run's duplicate bar ({nn.get('embedder', 'its')} embedder scale)",
        },
    )


def _coverage(report: dict[str, Any]) -> dict[str, Any]:
    rows = report.get("largest_deviations") or []
    if not rows:
        return _tile(
            "coverage",
            "Largest gap to the plan",
            "largest_deviations",
            None,
            "no plan",
            INFO,
            detail="no planned mix to compare with",
        )
    worst = rows[0]
    gap = worst["gap"]
    verdict = GOOD if abs(gap) < 0.02 else WARN if abs(gap) < 0.05 else BAD
    return _tile(
        "coverage",
        "Largest gap to the plan",
        "largest_deviations.0.gap",
        gap,
        f"{gap * 100:+.1f} points",
        verdict,
        detail=(
            f"{label(worst['dimension'])}: {worst['value']} at {share(worst['realised'])} "
            f"against {share(worst['target'])} planned"
        ),
    )
