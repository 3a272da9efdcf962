"""A self-contained HTML report: figures, plots embedded as base64 PNG, suggested config."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

from asyncgen.bench import _plots
from asyncgen.bench._result import BenchResult, config_text, headline
from asyncgen.bench._stats import StepStats
from asyncgen.errors import StoreError

HTML_NAME = "report.html"
PNG_NAME = "bench.png"

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f4f4f4}td.l,th.l{text-align:left}
.note{background:#fff6d5;border-left:4px solid #e0b000;padding:.6em 1em}
pre{background:#f6f8fa;padding:1em;overflow:auto}img{max-width:100%}
.wide{overflow-x:auto}
"""


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
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>asyncgen bench {e(result.profile)}</title><style>{_CSS}</style></head><body>",
        f"<h1>asyncgen bench <code>{e(result.profile)}</code></h1>",
        f"<p>Endpoint <code>{e(result.base_url)}</code>, model <code>{e(result.model)}</code>; "
        f"{e(result.started_at)} → {e(result.finished_at)}.</p>",
        "<p class='note'><b>Retries and client-side limiter OFF.</b> "
        f"{e(result.transport['note'])}</p>",
        "<h2>Findings</h2>",
        "".join(f"<p><b>{e(line)}</b></p>" for line in headline(result)),
        _kv_table(_flat(result.summary)),
        "<h2>Limits: measured and advertised</h2>",
        _limits_table(result),
        "<h2>Suggested config</h2>",
        f"<pre>{e(config_text(result))}</pre>",
    ]
    for title, png in images:
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<h2>{e(title)}</h2><img alt='{e(title)}' src='data:image/png;base64,{data}'>"
        )
    parts += ["<h2>Steps</h2>", _steps_table(result.steps), _settings(result), "</body></html>"]
    return "\n".join(parts)


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
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _kv_table(rows: dict[str, Any]) -> str:
    body = "".join(
        f"<tr><th class='l'>{html.escape(k)}</th><td class='l'>{html.escape(_fmt(v))}</td></tr>"
        for k, v in rows.items()
    )
    return f"<table>{body}</table>"


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


_COLUMNS = (
    ("x", lambda s: s.x),
    ("window s", lambda s: s.window_seconds),
    ("sent", lambda s: s.requests),
    ("ok", lambda s: s.successes),
    ("429", lambda s: s.rate_limited),
    ("errors", lambda s: ", ".join(f"{k}:{n}" for k, n in s.errors.items() if k != "429")),
    ("ok/s", lambda s: s.success_per_s),
    ("in tok/s", lambda s: s.input_tokens_per_s),
    ("out tok/s", lambda s: s.output_tokens_per_s),
    ("p50 s", lambda s: s.latency["p50"]),
    ("p90 s", lambda s: s.latency["p90"]),
    ("p99 s", lambda s: s.latency["p99"]),
    ("TTFT p50", lambda s: s.ttft["p50"]),
    ("ITL p50", lambda s: s.itl["p50"]),
    ("goodput/s", lambda s: s.goodput_per_s),
    ("Retry-After p50", lambda s: s.retry_after["p50"]),
    ("client wait max", lambda s: s.client_wait.get("max")),
    ("warm-up", lambda s: s.warmup_requests),
    ("notes", lambda s: "; ".join(s.notes) or None),
)


def _steps_table(steps: list[StepStats]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in _COLUMNS)
    rows = [
        "<tr>" + "".join(f"<td>{html.escape(_fmt(get(st)))}</td>" for _, get in _COLUMNS) + "</tr>"
        for st in steps
    ]
    return f"<div class='wide'><table><tr>{head}</tr>{''.join(rows)}</table></div>"


def _settings(result: BenchResult) -> str:
    return "<h2>Settings</h2>" + _kv_table(_flat(result.settings))
