"""A self-contained report.html: headline tables and every plot embedded as base64 PNG."""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from asyncgen.report.plots import Plot

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:1100px;color:#222}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0} td,th{border:1px solid #ddd;padding:.25rem .6rem;
text-align:left;font-size:.9rem} th{background:#f4f4f4} figure{margin:1rem 0}
img{max-width:100%;border:1px solid #eee} .muted{color:#777;font-size:.85rem}
pre{background:#f8f8f8;padding:.6rem;overflow:auto;font-size:.8rem}
"""


def _table(rows: dict[str, Any]) -> str:
    cells = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
        if not isinstance(v, dict | list)
    )
    return f"<table>{cells}</table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _deviation_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='muted'>No planned dimension to compare.</p>"
    head = "<tr><th>dimension</th><th>value</th><th>realised</th><th>target</th><th>gap</th></tr>"
    body = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_fmt(r[k]))}</td>"
            for k in ("dimension", "value", "realised", "target", "gap")
        )
        + "</tr>"
        for r in rows
    )
    return f"<table>{head}{body}</table>"


def _figure(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    title = html.escape(plot.title)
    image = f"<img alt='{title}' src='data:image/png;base64,{data}'>"
    return f"<figure>{image}<figcaption>{title}</figcaption></figure>"


def render_html(report: dict[str, Any], plots: list[Plot]) -> str:
    """The whole page; nothing is fetched when it is opened."""
    diversity = report["diversity"]
    sections = [
        f"<h1>Dataset report</h1><p class='muted'>{html.escape(report['run_dir'])} · "
        f"{report['pipeline']} · {report['records']} records · {report['created_at']}</p>",
        "<h2>Validity</h2>" + _table(report["validity"]),
        "<h3>Rejected by cause</h3>" + _table(report["validity"]["rejected_by_cause"]),
        "<h3>Failed by cause</h3>" + _table(report["validity"]["failed_by_cause"]),
        "<h2>Diversity</h2><h3>User turns</h3>" + _table(diversity["user_turns"]),
        "<h3>Assistant turns</h3>" + _table(diversity["assistant_turns"]),
        "<h3>Nearest-neighbour similarity</h3>" + _table(diversity.get("nearest_neighbour", {})),
        "<h2>Coverage against the plan</h2><h3>Largest deviations</h3>"
        + _deviation_table(report["largest_deviations"]),
        "<h2>Length</h2>"
        + "".join(
            f"<h3>{html.escape(k)}</h3>" + _table(v)
            for k, v in report["length"].items()
            if k != "turns_histogram"
        ),
        "<h2>Cost</h2>" + _table(report["cost"]),
        "<h2>Noise</h2>" + _table(report["noise"]),
    ]
    if report.get("judge"):
        sections.append("<h2>LLM judge</h2>" + _table(report["judge"].get("means", {})))
    sections.append("<h2>Plots</h2>" + "".join(_figure(p) for p in plots))
    if report["missing_fields"] or report["unreadable_lines"]["count"]:
        detail = {
            "missing_fields": report["missing_fields"],
            "unreadable": report["unreadable_lines"],
        }
        sections.append(
            "<h2>Data problems</h2><pre>" + html.escape(json.dumps(detail, indent=2)) + "</pre>"
        )
    body = "\n".join(sections)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>asyncgen dataset report</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
