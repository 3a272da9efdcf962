"""report.html: one self-contained page (inline CSS, JS, SVG and data; nothing fetched).

Overview (headline verdicts, gaps, diversity against references), coverage as small
multiples, distributions, and the conversation browser, whose index and compressed
chunks are embedded as inert script blocks the viewer inflates on demand.
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Any

import orjson

from asyncgen.report.browse import BrowserData
from asyncgen.report.charts import (
    coverage_card,
    histogram_svg,
    integer_histogram,
)
from asyncgen.report.headline import count, share
from asyncgen.report.labels import label

e = html.escape


def _asset(name: str) -> str:
    return (resources.files("asyncgen.resources") / "report" / name).read_text(encoding="utf-8")


def _json_script(value: Any, node_id: str) -> str:
    text = orjson.dumps(value).decode("utf-8").replace("</", "<\\/")
    return f"<script type='application/json' id='{node_id}'>{text}</script>"


def render_page(report: dict[str, Any], browser: BrowserData | None, *, live: bool = False) -> str:
    """The whole page; `live` says a run is still writing (the page then says so)."""
    entries = f"{browser.count:,}" if browser is not None else "0"
    if browser is not None and browser.sampled:
        entries += f" of {browser.total:,}"
    sections = [
        f"<section id='overview' class='tab'>{_overview(report, live)}</section>",
        f"<section id='coverage' class='tab'>{_coverage(report)}</section>",
        f"<section id='distributions' class='tab'>{_distributions(report)}</section>",
        f"<section id='conversations' class='tab'>{_browser_shell(browser)}</section>",
        f"<section id='problems' class='tab'>{_problems(report)}</section>",
    ]
    data = ""
    if browser is not None:
        data = _json_script(browser.index(), "ag-index") + "".join(
            f"<script type='application/octet-stream' id='ag-chunk-{i}'>{chunk}</script>"
            for i, chunk in enumerate(browser.chunks)
        )
    tabs = [
        ("overview", "Overview"),
        ("coverage", "Coverage"),
        ("distributions", "Distributions"),
        ("conversations", f"Conversations ({entries})"),
        ("problems", "Data problems"),
    ]
    nav = "".join(f"<a href='#{k}' data-tab='{k}'>{e(t)}</a>" for k, t in tabs)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>asyncgen report · {e(report['pipeline'])} · {report['records']:,} records</title>"
        f"<style>{_asset('viewer.css')}</style></head><body>"
        f"<header class='top'><h1>Dataset report</h1>{_meta(report, live)}"
        f"<nav class='tabs'>{nav}</nav></header>"
        f"<main>{''.join(sections)}</main>{data}<script>{_asset('viewer.js')}</script>"
        "</body></html>"
    )


def _meta(report: dict[str, Any], live: bool) -> str:
    bits = [
        f"<span><b>{e(label(report['pipeline']))}</b> pipeline</span>",
        f"<span class='mono'>{e(report['run_dir'])}</span>",
        f"<span>status: {e(label(str(report.get('status') or 'unknown')).lower())}</span>",
        f"<span>written {e(report['created_at'])}</span>",
    ]
    if report.get("simulated"):
        bits.append("<span class='badge sim'>simulated records</span>")
    if live:
        bits.append("<span class='badge live'>run in progress</span>")
    return f"<div class='meta'>{''.join(bits)}</div>"


def _tile(tile: dict[str, Any]) -> str:
    verdict = {"good": "ok", "warn": "check", "bad": "problem", "info": ""}[tile["verdict"]]
    value = "" if tile["value"] is None else str(tile["value"])
    parts = ""
    if tile.get("parts"):
        items = "".join(
            f"<li><span>{e(p['label'])}</span><span>{e(p['display'])}</span></li>"
            for p in tile["parts"][:5]
        )
        more = len(tile["parts"]) - 5
        parts = f"<ul>{items}{f'<li><span>… {more} more</span></li>' if more > 0 else ''}</ul>"
    reference = ""
    if tile.get("reference"):
        ref = tile["reference"]
        reference = (
            f"<div class='ref' data-ref-path='{e(ref['path'])}' data-ref-value='{ref['value']}'>"
            f"reference <b>{e(ref['display'])}</b>: {e(str(ref.get('source') or ''))}</div>"
        )
    detail = f"<div class='d'>{e(tile['detail'])}</div>" if tile.get("detail") else ""
    return (
        f"<div class='tile {tile['verdict']}' data-key='{e(tile['key'])}' "
        f"data-path='{e(tile['path'])}' data-value='{e(value)}'>"
        f"<div class='t'><span>{e(tile['label'])}</span>"
        f"<span class='verdict'>{verdict}</span></div>"
        f"<div class='v'>{e(tile['display'])}</div>{reference}{detail}{parts}</div>"
    )


def _overview(report: dict[str, Any], live: bool) -> str:
    banner = ""
    if live:
        banner = (
            "<div class='banner'>The run is still writing. This page is rewritten every "
            "little while; reload to see the latest figures.</div>"
        )
    tiles = "".join(_tile(t) for t in report["headline"])
    return (
        f"{banner}<h2>Headline</h2><div class='strip'>{tiles}</div><div class='pair'>"
        f"<div><h2>Largest gaps to the plan</h2>{_gaps(report)}</div>"
        f"<div><h2>Noise</h2>{_noise_summary(report)}</div></div>"
        f"<h2>Diversity against reference text</h2>{_diversity(report)}"
    )


def _gaps(report: dict[str, Any]) -> str:
    rows = report.get("largest_deviations") or []
    if not rows:
        return "<p class='muted'>The run's config plans no mix to compare with.</p>"
    body = "".join(
        f"<tr><td>{e(label(r['dimension']))}</td><td>{e(str(r['value']))}</td>"
        f"<td class='n'>{share(r['realised'])}</td><td class='n'>{share(r['target'])}</td>"
        f"<td class='n'>{r['gap'] * 100:+.1f}</td></tr>"
        for r in rows[:8]
    )
    return (
        "<table class='t'><tr><th>Dimension</th><th>Value</th><th>Realised</th>"
        f"<th>Planned</th><th>Gap (points)</th></tr>{body}</table>"
    )


_FIGURES = (
    ("distinct_1", "Distinct words (distinct-1)", "higher is more varied"),
    ("distinct_2", "Distinct word pairs (distinct-2)", "higher is more varied"),
    ("ngram_overlap_4", "4-word phrases shared with another turn", "lower is more varied"),
)


def _diversity(report: dict[str, Any]) -> str:
    reference = report["diversity"].get("reference") or {}
    rows = []
    for side, name in (("user_turns", "User turns"), ("assistant_turns", "Assistant turns")):
        pair = reference.get(side)
        for key, title, hint in _FIGURES:
            if pair:
                run, ref = pair["run"][key], pair["reference"][key]
                rows.append(
                    f"<tr><td>{name}</td><td>{title} <span class='muted'>({hint})</span></td>"
                    f"<td class='n'>{run:.3f}</td><td class='n'>{ref:.3f}</td>"
                    f"<td class='n'>{count(pair['turns'])}</td></tr>"
                )
    source = reference.get("source") or "no reference available"
    whole = report["diversity"]
    note = (
        f"<p class='sub'>Reference: {e(source)}. Both columns are measured on the same number "
        "of turns, because these figures fall as a sample grows. Over the run's whole sample: "
        f"distinct-2 {whole['user_turns']['distinct_2']:.3f} (user, "
        f"{count(whole['user_turns']['sample_size'])} turns) and "
        f"{whole['assistant_turns']['distinct_2']:.3f} (assistant), vocabulary "
        f"{count(whole['user_turns']['vocabulary_size'])} / "
        f"{count(whole['assistant_turns']['vocabulary_size'])} words.</p>"
    )
    if not rows:
        return note
    return (
        "<table class='t'><tr><th>Side</th><th>Figure</th><th>This run</th><th>Reference</th>"
        f"<th>Turns each</th></tr>{''.join(rows)}</table>{note}"
    )


def _noise_summary(report: dict[str, Any]) -> str:
    noise = report["noise"]
    configured = noise.get("configured_noise_probability")
    text = (
        f"{share(noise['realised_noise_rate'])} of {count(noise['user_turns'])} user turns were "
        "sent with noise"
    )
    if configured is not None:
        text += f" (configured probability {share(float(configured))})"
    per = noise.get("per_strategy") or {}
    if not per:
        return f"<p>{text}.</p>"
    rows = "".join(
        f"<tr><td>{e(label(k))}</td><td class='n'>{count(v['count'])}</td>"
        f"<td class='n'>{share(v['char_edit_rate'])}</td><td class='n'>{share(v['word_edit_rate'])}"
        "</td></tr>"
        for k, v in sorted(per.items(), key=lambda kv: -kv[1]["count"])
    )
    return (
        f"<p>{text}.</p><table class='t'><tr><th>Strategy</th><th>Noisy versions</th>"
        f"<th>Characters changed</th><th>Words changed</th></tr>{rows}</table>"
    )


def _coverage(report: dict[str, Any]) -> str:
    coverage: dict[str, dict[str, Any]] = report["coverage"]
    planned = [k for k, v in coverage.items() if v.get("target_share")]
    persona = [k for k in coverage if k.startswith("persona.") and k not in planned]
    other = [k for k in coverage if k not in planned and k not in persona]
    legend = (
        "<div class='legend'><span><i class='lb'></i>realised share</span>"
        "<span><i class='lp'></i>planned share</span>"
        "<span>each card has its own axis, shown under its title</span></div>"
    )
    out = ["<h2>Against the plan</h2>", legend]
    if planned:
        out.append("<div class='grid'>" + "".join(coverage_card(k, coverage[k]) for k in planned))
        out.append("</div>")
    else:
        out.append("<p class='muted'>The run's config plans no mix for these dimensions.</p>")
    if other:
        out.append("<h2>Other mixes</h2><div class='grid'>")
        out.append("".join(coverage_card(k, coverage[k]) for k in other) + "</div>")
    if persona:
        cards = "".join(coverage_card(k, coverage[k]) for k in persona)
        out.append(
            f"<h2>Persona features</h2><details open><summary>{len(persona)} features</summary>"
            f"<div class='grid'>{cards}</div></details>"
        )
    return "".join(out)


def _distributions(report: dict[str, Any]) -> str:
    length = report["length"]
    charts = []
    turns = length.get("turns_histogram") or {}
    if turns:
        planned = length.get("planned_turns")
        band = (planned["min"] - 0.5, planned["max"] + 0.5) if planned else None
        band_label = f"planned {planned['min']}–{planned['max']}" if planned else ""
        note = f"mean {length['turns_per_record']['mean']:.1f}; user turns"
        charts.append(
            _count_chart(
                "Turns per conversation",
                note,
                turns,
                xlabel="user turns",
                band=band,
                band_label=band_label,
            )
        )
    words = length.get("words_per_turn_histogram") or {}
    if words:
        stats = length["words_per_turn"]
        note = (
            f"median {stats['p50']:.0f}, 9 in 10 at most {stats['p90']:.0f}; longest "
            f"{stats['max']:.0f} (the top 1 % is folded into the last bar)"
        )
        charts.append(_count_chart("Words per turn", note, words, xlabel="words", ylabel="turns"))
    tokens = length.get("tokens_per_record_histogram") or {}
    if tokens:
        stats = length["tokens_per_record"]
        note = f"median {stats['p50']:,.0f}, 9 in 10 at most {stats['p90']:,.0f}"
        charts.append(_count_chart("Tokens per conversation", note, tokens, xlabel="tokens"))
    nn = report["diversity"].get("nearest_neighbour") or {}
    if nn.get("histogram"):
        hist = nn["histogram"]
        charts.append(
            _chart(
                "Similarity to the nearest other record",
                f"{count(nn['count'])} sampled records; {share(nn['share_at_or_above_threshold'])}"
                " at or above the duplicate bar",
                histogram_svg(
                    hist["edges"],
                    hist["counts"],
                    xlabel=f"cosine similarity ({nn.get('embedder', 'run')} embedder)",
                    line=nn["threshold"],
                    line_label=f"duplicate bar {nn['threshold']:.3f}",
                ),
            )
        )
    elif not nn:
        charts.append(
            "<div class='card'><h4>Similarity to the nearest other record</h4><p class='sub'>"
            "Not measured on this page (it is refreshed during the run without embedding); "
            "<code>asyncgen report RUN</code> measures it.</p></div>"
        )
    return "<h2>Distributions</h2><div class='charts'>" + "".join(charts) + "</div>"


def _chart(title: str, sub: str, svg: str) -> str:
    return f"<div class='card'><h4>{e(title)}</h4><p class='sub'>{e(sub)}</p>{svg}</div>"


def _count_chart(title: str, sub: str, histogram: dict[str, int], **svg: Any) -> str:
    """The card of an integer `{value: count}` histogram (turns, words, tokens)."""
    edges, counts = integer_histogram(histogram)
    return _chart(title, sub, histogram_svg(edges, counts, **svg))


def _browser_shell(browser: BrowserData | None) -> str:
    if browser is None or not browser.count:
        return "<p class='muted'>No conversations in this run yet.</p>"
    return (
        _sample_note(browser)
        + "<div class='browser'><div class='side'><div id='filters' class='filters'></div>"
        "<div class='count'><span id='count-text'></span><span id='search-progress' "
        "class='muted'></span></div><div id='list' class='list'></div></div>"
        "<div id='reader' class='reader'><p class='empty'>Choose a conversation on the left "
        "to read it with its persona, scenario, emotions and noise edits (↑ and ↓ step "
        "through the list; the address links to the open conversation).</p></div></div>"
    )


def _sample_note(browser: BrowserData) -> str:
    """Which outcomes the browser shows a sample of (its memory is bounded, not n's)."""
    if not browser.sampled:
        return ""
    parts = ", ".join(
        f"{count(kept)} of {count(seen)} {label(status).lower()}"
        for status, (kept, seen) in browser.sampled.items()
    )
    return (
        f"<p class='muted sample-note'>This browser holds a seeded uniform sample: {parts} "
        "entries, in the order they were written. Every figure on the other tabs counts "
        "all of them.</p>"
    )


def _problems(report: dict[str, Any]) -> str:
    missing = report.get("missing_fields") or {}
    unreadable = report.get("unreadable_lines") or {}
    out = ["<h2>Data problems</h2>"]
    if not missing and not unreadable.get("count"):
        out.append("<p>Every line was readable and every counted field was present.</p>")
    if unreadable.get("count"):
        items = "".join(f"<li class='mono'>{e(x)}</li>" for x in unreadable.get("examples", []))
        out.append(
            f"<p>{count(unreadable['count'])} unreadable lines (skipped):</p><ul>{items}</ul>"
        )
    if missing:
        rows = "".join(
            f"<tr><td>{e(label(k))}</td><td class='n'>{count(v)}</td></tr>"
            for k, v in sorted(missing.items(), key=lambda kv: -kv[1])
        )
        out.append(
            "<h3>Fields missing from records</h3><table class='t'><tr><th>Field</th>"
            f"<th>Records without it</th></tr>{rows}</table>"
        )
    return "".join(out)
