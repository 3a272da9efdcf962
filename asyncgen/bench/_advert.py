"""Headers against reality: where the advertised limits and the measured ones disagree.

An endpoint's ``x-ratelimit-limit-*`` headers are a claim; find-limit measures what is
enforced. They part ways behind proxies (the upstream's headers passed through), on
keys shared with another process, and where a per-minute figure is enforced per 10 s
window or the header carries that window's share. Each dimension gets one row: what
was advertised, what was observed, their ratio, and a sentence when they disagree.
"""

from __future__ import annotations

from typing import Any

AGREE_WITHIN = 0.03  # the estimator's own tolerance
_KNOWN_FACTORS = {
    6.0: "the header gives one 10 s window's allowance; the limit per minute is 6× it",
    1 / 6: "the endpoint enforces a sixth of the advertised figure per 10 s window (Azure)",
    60.0: "the header gives a per-second allowance; the limit per minute is 60× it",
}


def _factor_note(ratio: float) -> str | None:
    for factor, note in _KNOWN_FACTORS.items():
        if abs(ratio / factor - 1) <= AGREE_WITHIN:
            return note
    return None


def _row(dimension: str, advertised: Any, observed: float | None, binding: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "dimension": dimension,
        "advertised": advertised,
        "observed": observed,
        "ratio": None,
        "agrees": None,
        "note": "",
    }
    if advertised is None:
        row["note"] = "not advertised"
        return row
    if isinstance(advertised, int | float) and advertised < 0:
        row["note"] = f"advertised as {advertised} (not limited)"
        if binding:
            row["agrees"] = False
            row["note"] += ", yet this dimension refused requests"
        return row
    if observed is None:
        row["note"] = "not measured"
        return row
    ratio = observed / advertised if advertised else None
    row["ratio"] = ratio
    if not binding:
        row["agrees"] = None if ratio is None or ratio <= 1 + AGREE_WITHIN else False
        row["note"] = (
            "not the binding limit: another dimension refused first, so only "
            f"{observed:,.0f} was reached"
        )
        if row["agrees"] is False:
            row["note"] = f"{observed:,.0f} was admitted, above the advertised limit"
        return row
    if ratio is None:
        return row
    row["agrees"] = abs(ratio - 1) <= AGREE_WITHIN
    if not row["agrees"]:
        known = _factor_note(ratio)
        side = "more" if ratio > 1 else "less"
        row["note"] = known or (
            f"the endpoint enforces {abs(ratio - 1):.0%} {side} than it advertises "
            "(a proxy's own limit, a key shared with another client, or a stricter window)"
        )
    return row


def compare_limits(summary: dict[str, Any], advertised: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per dimension (requests/min, tokens/min reserved): advertised vs observed."""
    binding = summary.get("binding_dimension")
    rows = [
        _row(
            "requests_per_min",
            advertised.get("limit_requests"),
            summary.get("sustainable_rpm"),
            binding == "requests",
        ),
        _row(
            "tokens_per_min",
            advertised.get("limit_tokens"),
            summary.get("sustainable_tpm_reserved"),
            binding in ("tokens", "input_tokens", "output_tokens"),
        ),
    ]
    return [r for r in rows if r["advertised"] is not None or r["observed"] is not None]


def disagreements(rows: list[dict[str, Any]]) -> list[str]:
    """The rows that disagree, as sentences for the console and the report."""
    out = []
    for r in rows:
        if r["agrees"] is False:
            name = r["dimension"].replace("_", " ")
            observed = "–" if r["observed"] is None else f"{r['observed']:,.0f}"
            out.append(f"{name}: advertised {r['advertised']:,}, observed {observed}: {r['note']}")
    return out
