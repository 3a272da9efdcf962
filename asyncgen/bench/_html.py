"""A self-contained HTML report: figures, plots embedded as base64 PNG, suggested config."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asyncgen.bench import _plots
from asyncgen.bench._result import BenchResult, config_text, headline
from asyncgen.bench._stats import StepStats
from asyncgen.errors import StoreError

HTML_NAME = "report.html"
PNG_NAME = "bench.png"

_CSS = """
:root{--blue:#0072B2;--orange:#E69F00;--green:#009E73;--verm:#D55E00;--ink:#1f2328;
--muted:#5b6470;--line:#d8dde3}
*{box-sizing:border-box}
html{font-size:15px}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:0;
color:var(--ink);background:#f5f7f9;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:1.2rem 1.6rem 3rem}
h1{font-size:1.35rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.6rem 0 .6rem}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.88em}
.muted{color:var(--muted)}
.note{background:#fff4d6;border-left:5px solid var(--orange);padding:.6em 1em;border-radius:4px}
.findings p{font-size:1.05rem;margin:.35rem 0}
.strip{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:.7rem}
.tile{background:#fff;border:1px solid var(--line);border-left:5px solid var(--blue);
border-radius:8px;padding:.6rem .8rem}
.tile .t{font-size:.85rem;color:var(--muted);font-weight:600}
.tile .v{font-size:1.45rem;font-weight:700;font-variant-numeric:tabular-nums}
.tile .d{font-size:.82rem;color:var(--muted)}
table{border-collapse:collapse;font-size:.86rem;background:#fff;width:100%}
td,th{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:right;
vertical-align:top;overflow-wrap:break-word}
th{background:#eef1f4;font-weight:600;text-align:left;font-size:.8rem;min-width:4.5em}
td.n{white-space:nowrap}table.steps td.l{min-width:12em}
td.l,th.l{text-align:left}
td.n{font-variant-numeric:tabular-nums}
table.kv{max-width:760px}table.kv th{width:45%}
pre{background:#fff;border:1px solid var(--line);padding:1em;overflow:auto;border-radius:6px}
figure{margin:0 0 1rem;background:#fff;border:1px solid var(--line);border-radius:8px;padding:.6rem}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:.85rem;color:var(--muted);margin-top:.3rem}
details summary{cursor:pointer;color:var(--blue)}
"""

# plain words for the summary's keys (units in the label, never `x=11.39`)
_SUMMARY_LABELS = {
    "stop_reason": "Why it stopped",
    "arrivals": "Arrivals",
    "highest_clean_rate": "Highest clean rate (requests/s)",
    "onset_rate_429": "429s set in at (requests/s offered)",
    "onset_rpm_429": "429s set in at (requests/min offered)",
    "first_failing_rate": "First failing rate (requests/s)",
    "sustainable_rps": "Sustainable rate (requests/s)",
    "sustainable_rpm": "Sustainable requests per minute",
    "sustainable_tpm": "Sustainable tokens per minute (used)",
    "sustainable_tpm_reserved": "Sustainable tokens per minute (reserved)",
    "sustainable_offered_rate": "Offered rate of the best clean step (requests/s)",
    "measured_success_rpm": "Measured successful requests per minute",
    "drain_correction": "Drain correction (share of the rate that did not refill)",
    "max_clean_concurrency": "Highest clean concurrency",
    "first_failing_concurrency": "First failing concurrency",
    "knee_concurrency": "Concurrency where throughput stops rising",
    "recommended_concurrency": "Recommended concurrency",
    "priming_request": "Priming request",
    "success_per_s": "successful requests/s",
    "tokens_per_min": "tokens per minute (used)",
    "reserved_tokens_per_min": "tokens per minute (reserved)",
    "sustained_success_per_s": "sustainable successful requests/s",
    "sustained_reserved_tokens_per_min": "sustainable tokens per minute (reserved)",
    "latency_p50": "latency p50 (s)",
    "latency_p99": "latency p99 (s)",
    "max_in_flight": "most requests in flight",
}


def _x_name(profile: str) -> str:
    return "concurrency" if profile == "sweep" else "offered rate (requests/s)"


def _label(key: str, profile: str) -> str:
    """A summary key in words: `peak.success_per_s` → `Best step: successful requests/s`."""
    head, _, tail = key.rpartition(".")
    if head == "peak":
        name = _x_name(profile) if tail == "x" else _SUMMARY_LABELS.get(tail, tail)
        return f"Best step: {name.replace('_', ' ')}"
    if key in _SUMMARY_LABELS:
        return _SUMMARY_LABELS[key]
    words = key.replace("_", " ").replace(".", ": ")
    return words[:1].upper() + words[1:]


def onset_of(result: BenchResult) -> float | None:
    """Where failures set in: the 429 onset rate, or the sweep's first failing level."""
    summary = result.summary
    for key in ("onset_rate_429", "first_failing_concurrency"):
        if summary.get(key) is not None:
            return float(summary[key])
    return None


def write_report(result: BenchResult, out_dir: Path) -> dict[str, Path]:
    """Render the plots, write `bench.png` (the main plot) and `report.html`.

    Raises:
        StoreError: the files cannot be written.
    """
    main = _plots.throughput_png(result.steps, result.profile, onset_of(result))
    images = [
        ("Throughput and failures", main),
        ("Latency", _plots.latency_png(result.steps, result.profile)),
        ("Tokens", _plots.tokens_png(result.steps, result.profile)),
    ]
    retry = _plots.retry_after_png(result.steps)
    if retry is not None:
        images.append(("Retry-After", retry))
    paths = {"png": out_dir / PNG_NAME, "html": out_dir / HTML_NAME}
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        paths["png"].write_bytes(main)
        paths["html"].write_text(render_html(result, images), encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"{out_dir}: cannot write the report ({exc.strerror})") from exc
    return paths


def render_html(result: BenchResult, images: list[tuple[str, bytes]]) -> str:
    """The whole page as one string; nothing it shows is fetched from elsewhere."""
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        f"<title>asyncgen bench {e(result.profile)}</title><style>{_CSS}</style></head>",
        "<body><main>",
        f"<h1>Endpoint benchmark: <code>{e(result.profile)}</code> profile</h1>",
        f"<p class='muted'>Endpoint <code>{e(result.base_url)}</code>, model "
        f"<code>{e(result.model)}</code>; {e(result.started_at)} → {e(result.finished_at)}.</p>",
        "<p class='note'><b>Retries and client-side limiter OFF.</b> "
        f"{e(result.transport['note'])}</p>",
        "<h2>Findings</h2><div class='findings'>",
        "".join(f"<p><b>{e(line)}</b></p>" for line in headline(result)),
        "</div>",
        _figures_strip(result),
        "<h2>Limits: measured and advertised</h2>",
        _limits_table(result),
        "<h2>Suggested config</h2>",
        f"<pre>{e(config_text(result))}</pre>",
    ]
    for title, png in images:
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<h2>{e(title)}</h2><figure><img alt='{e(title)}' "
            f"src='data:image/png;base64,{data}'></figure>"
        )
    parts += [
        "<h2>Steps</h2>",
        f"<p class='muted'>One row per measured step, by {_x_name(result.profile)}; "
        "latency of successful requests only.</p>",
        _steps_table(result.steps, result.profile),
        "<h2>Every figure of the summary</h2>",
        _kv_table(_flat(result.summary), result.profile),
        _settings(result),
        "</main></body></html>",
    ]
    return "\n".join(parts)


_STRIP_KEYS = (
    "sustainable_rpm",
    "sustainable_tpm_reserved",
    "onset_rpm_429",
    "highest_clean_rate",
    "onset_rate_429",
    "max_clean_concurrency",
    "recommended_concurrency",
    "peak.success_per_s",
    "peak.latency_p50",
    "peak.latency_p99",
)


def _figures_strip(result: BenchResult) -> str:
    """The key figures as tiles; each names its path in bench.json (`summary.…`)."""
    flat = _flat(result.summary)
    tiles = []
    for key in _STRIP_KEYS:
        if key not in flat or isinstance(flat[key], bool):
            continue
        value = flat[key]
        tiles.append(
            f"<div class='tile' data-path='summary.{html.escape(key)}' "
            f"data-value='{'' if value is None else value}'>"
            f"<div class='t'>{html.escape(_label(key, result.profile))}</div>"
            f"<div class='v'>{html.escape(_fmt(value))}</div></div>"
        )
    return f"<h2>Key figures</h2><div class='strip'>{''.join(tiles)}</div>" if tiles else ""


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1:
            return f"{value:,.0f}"
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _kv_table(rows: dict[str, Any], profile: str) -> str:
    body = "".join(
        f"<tr><th class='l'>{html.escape(_label(k, profile))}</th>"
        f"<td class='l'>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f"<table class='kv'>{body}</table>"


def _limits_table(result: BenchResult) -> str:
    s, adv = result.summary, result.advertised
    peak = s.get("peak") or {}
    rpm = s.get("sustainable_rpm") or (peak.get("success_per_s", 0) * 60 or None)
    reserved = s.get("sustainable_tpm_reserved") or peak.get("reserved_tokens_per_min")
    used = s.get("sustainable_tpm") or peak.get("tokens_per_min")
    rows = [
        ("requests per minute", rpm, adv.get("limit_requests")),
        ("tokens per minute, reserved (prompt + max_tokens)", reserved, adv.get("limit_tokens")),
        ("tokens per minute, used (usage)", used, None),
    ]
    body = "".join(
        f"<tr><th class='l'>{n}</th><td>{_fmt(m)}</td><td>{_fmt(a)}</td></tr>" for n, m, a in rows
    )
    head = (
        "<tr><th class='l'></th><th>measured (sustained)</th>"
        "<th>advertised (x-ratelimit-*)</th></tr>"
    )
    return f"<table>{head}{body}</table>"


def _seconds(values: dict[str, float | None], *keys: str) -> str | None:
    found = [values.get(k) for k in keys]
    if all(v is None for v in found):
        return None
    return " · ".join("–" if v is None else f"{v:.3g}" for v in found)


_COLUMNS: tuple[tuple[str, Callable[[StepStats], Any]], ...] = (
    ("sent", lambda s: s.requests),
    ("succeeded", lambda s: s.successes),
    ("429s", lambda s: s.rate_limited),
    ("other errors", lambda s: ", ".join(f"{k} {n}" for k, n in s.errors.items() if k != "429")),
    ("successful /s", lambda s: s.success_per_s),
    ("tokens/s in · out", lambda s: f"{s.input_tokens_per_s:,.0f} · {s.output_tokens_per_s:,.0f}"),
    ("latency p50 · p90 · p99 (s)", lambda s: _seconds(s.latency, "p50", "p90", "p99")),
    ("first token p50 · inter-token p50 (s)", lambda s: _seconds_pair(s)),
    ("goodput /s", lambda s: s.goodput_per_s),
    ("Retry-After p50 (s)", lambda s: s.retry_after["p50"]),
    ("measured window (s)", lambda s: s.window_seconds),
    ("notes", lambda s: "; ".join(s.notes) or None),
)


def _seconds_pair(step: StepStats) -> str | None:
    if step.ttft.get("p50") is None:
        return None
    ttft, itl = step.ttft["p50"], step.itl.get("p50")
    return f"{ttft:.3g} · {'–' if itl is None else f'{itl:.3g}'}"


def _steps_table(steps: list[StepStats], profile: str) -> str:
    head = f"<th>{html.escape(_x_name(profile))}</th>" + "".join(
        f"<th>{html.escape(name)}</th>" for name, _ in _COLUMNS
    )
    rows = []
    for st in steps:
        cells = "".join(
            f"<td class='{'l' if name in ('notes', 'other errors') else 'n'}'>"
            f"{html.escape(_fmt(get(st)))}</td>"
            for name, get in _COLUMNS
        )
        mark = " <span class='muted'>(superseded)</span>" if st.superseded else ""
        rows.append(f"<tr><td class='n'><b>{html.escape(_fmt(st.x))}</b>{mark}</td>{cells}</tr>")
    return f"<table class='steps'><tr>{head}</tr>{''.join(rows)}</table>"


def _settings(result: BenchResult) -> str:
    return (
        "<h2>Settings</h2><details><summary>every bench setting of this run</summary>"
        + _kv_table(_flat(result.settings), result.profile)
        + "</details>"
    )
