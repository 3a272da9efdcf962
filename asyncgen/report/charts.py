"""Charts as inline HTML and SVG: crisp at any zoom, legible text, nothing fetched.

Bars are HTML (labels wrap, text is real text); histograms are SVG with axes fitted to
the data and the reference line (threshold, planned range) always inside the plot.
Colours are Okabe-Ito, safe for the common colour-vision deficiencies, and every mark
also differs in shape (bar against tick, solid against dashed).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

from asyncgen.report.labels import label

BLUE, ORANGE, GREEN, VERMILLION, SKY, PURPLE, GREY = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#56B4E9",
    "#CC79A7",
    "#6b6b6b",
)
TOP_ROWS = 12


def _words(value: str) -> str:
    """A category value for display: `room_reservation` → `room reservation`."""
    return str(value).replace("_", " ")


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = [round(start, 10)]
    while ticks[-1] < high - step * 1e-9:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _tick_text(value: float, step: float) -> str:
    if step >= 1:
        return f"{value:,.0f}"
    digits = -math.floor(math.log10(step) + 1e-9)
    mantissa = step / 10 ** math.floor(math.log10(step) + 1e-9)
    return f"{value:.{digits + (1 if round(mantissa, 3) == 2.5 else 0)}f}"


def coverage_card(name: str, coverage: dict[str, Any], top: int = TOP_ROWS) -> str:
    """One small multiple: realised share as a bar, planned share as a tick, same axis."""
    realised: dict[str, float] = coverage.get("realised_share") or {}
    counts: dict[str, int] = coverage.get("realised") or {}
    target: dict[str, float] = coverage.get("target_share") or {}
    keys = set(realised) | set(target)

    def gap(key: str) -> float:
        return abs(realised.get(key, 0.0) - target.get(key, 0.0))

    if target and len(keys) > top:
        order = sorted(keys, key=lambda k: (-gap(k), -realised.get(k, 0.0), str(k)))
    elif all(str(k).lstrip("-").isdigit() for k in keys):
        order = sorted(keys, key=lambda k: int(k))
    else:
        order = sorted(keys, key=lambda k: (-realised.get(k, 0.0), str(k)))
    scale = max([*realised.values(), *target.values(), 0.01])
    scale = nice_ticks(0, scale, 4)[-1]
    title = html.escape(label(name))
    shown, rest = order[:top], order[top:]
    note = ""
    if rest:
        how = "largest gaps to the plan" if target else "most frequent"
        note = f"<p class='topk'>top {len(shown)} of {len(order)} ({how})</p>"
    rows = "".join(_bar_row(k, realised, counts, target, scale) for k in shown)
    more = ""
    if rest:
        hidden = "".join(_bar_row(k, realised, counts, target, scale) for k in rest)
        more = f"<details><summary>show the other {len(rest)}</summary>{hidden}</details>"
    planned = "realised against plan" if target else "realised (no plan)"
    deviation = coverage.get("max_deviation")
    worst = "" if deviation is None else f" · largest gap {deviation * 100:.1f} points"
    return (
        f"<section class='card cov' data-dimension='{html.escape(name)}'>"
        f"<h4>{title}</h4><p class='sub'>{planned}{worst} · axis 0–{_pct(scale)}</p>"
        f"{note}<div class='bars'>{rows}</div>{more}</section>"
    )


def _bar_row(
    key: str,
    realised: dict[str, float],
    counts: dict[str, int],
    target: dict[str, float],
    scale: float,
) -> str:
    value = realised.get(key, 0.0)
    width = 100 * value / scale
    marker = ""
    tip = f"{key}: {_pct(value)} ({counts.get(key, 0):,} records)"
    if target:
        planned = target.get(key, 0.0)
        marker = f"<i class='plan' style='left:{100 * planned / scale:.2f}%'></i>"
        tip += f", planned {_pct(planned)}"
        text = f"{_pct(value)} <span class='muted'>/ {_pct(planned)}</span>"
    else:
        text = f"{_pct(value)} <span class='muted'>({counts.get(key, 0):,})</span>"
    return (
        f"<div class='row' title='{html.escape(tip)}'>"
        f"<span class='k'>{html.escape(_words(key))}</span>"
        f"<span class='track'><b style='width:{width:.2f}%'></b>{marker}</span>"
        f"<span class='v'>{text}</span></div>"
    )


def histogram_svg(
    edges: Sequence[float],
    counts: Sequence[int],
    *,
    xlabel: str,
    ylabel: str = "records",
    line: float | None = None,
    line_label: str = "",
    band: tuple[float, float] | None = None,
    band_label: str = "",
    width: int = 520,
    height: int = 220,
) -> str:
    """Bars over [edges[i], edges[i+1]); the x axis spans the bars, the line and the band."""
    left, right, top, bottom = 52, 14, 24, 42
    lows = [edges[0], *([line] if line is not None else []), *(band or ())]
    highs = [edges[-1], *([line] if line is not None else []), *(band or ())]
    x0, x1 = float(min(lows)), float(max(highs))
    span = (x1 - x0) or 1.0
    x0, x1 = x0 - span * 0.02, x1 + span * 0.02
    peak = max(counts) if counts else 1
    yticks = nice_ticks(0, max(peak, 1), 4)
    ymax = yticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(v: float) -> float:
        return left + (v - x0) / (x1 - x0) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - v / ymax * plot_h

    parts = [
        f"<svg class='hist' viewBox='0 0 {width} {height}' width='100%' role='img' "
        f"aria-label='{html.escape(xlabel)}'>"
    ]
    if band is not None:
        bx0, bx1 = sx(band[0]), sx(band[1])
        parts.append(
            f"<rect x='{bx0:.1f}' y='{top}' width='{max(bx1 - bx0, 2):.1f}' height='{plot_h}' "
            f"fill='{SKY}' opacity='0.18'/>"
            f"<text x='{bx0 + 4:.1f}' y='{top - 8}' class='ann' fill='#1d5f86'>"
            f"{html.escape(band_label)}</text>"
        )
    for tick in yticks:
        y = sy(tick)
        parts.append(
            f"<line x1='{left}' x2='{width - right}' y1='{y:.1f}' y2='{y:.1f}' class='grid'/>"
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end' class='tick'>"
            f"{tick:,.0f}</text>"
        )
    for i, n in enumerate(counts):
        if not n:
            continue
        a, b = sx(edges[i]), sx(edges[i + 1])
        w = max(b - a - 1, 1.0)
        parts.append(
            f"<rect x='{a + 0.5:.1f}' y='{sy(n):.1f}' width='{w:.1f}' height='{sy(0) - sy(n):.1f}'"
            f" fill='{BLUE}'><title>{edges[i]:g}–{edges[i + 1]:g}: {n:,}</title></rect>"
        )
    xticks = [t for t in nice_ticks(x0, x1, 6) if x0 <= t <= x1]
    step = xticks[1] - xticks[0] if len(xticks) > 1 else 1.0
    for tick in xticks:
        x = sx(tick)
        parts.append(
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top + plot_h}' y2='{top + plot_h + 4}' "
            f"class='axis'/><text x='{x:.1f}' y='{top + plot_h + 17}' text-anchor='middle' "
            f"class='tick'>{_tick_text(tick, step)}</text>"
        )
    parts.append(
        f"<line x1='{left}' x2='{width - right}' y1='{top + plot_h}' y2='{top + plot_h}' "
        f"class='axis'/>"
        f"<text x='{left + plot_w / 2:.1f}' y='{height - 6}' text-anchor='middle' class='lab'>"
        f"{html.escape(xlabel)}</text>"
        f"<text x='12' y='{top + plot_h / 2:.1f}' text-anchor='middle' class='lab' "
        f"transform='rotate(-90 12 {top + plot_h / 2:.1f})'>{html.escape(ylabel)}</text>"
    )
    if line is not None:
        x = sx(line)
        anchor = "end" if x > left + plot_w * 0.6 else "start"
        dx = -5 if anchor == "end" else 5
        parts.append(
            f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top - 4}' y2='{top + plot_h}' "
            f"stroke='{VERMILLION}' stroke-width='2' stroke-dasharray='6 3'/>"
            f"<text x='{x + dx:.1f}' y='{top + 8}' text-anchor='{anchor}' class='ann' "
            f"fill='{VERMILLION}'>{html.escape(line_label)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def integer_histogram(counts: dict[str, int], *, bins: int = 30) -> tuple[list[float], list[int]]:
    """Edges and counts of an integer histogram, one bar per value or `bins` equal bins."""
    if not counts:
        return [0.0, 1.0], [0]
    values = {int(float(k)): v for k, v in counts.items()}
    low, high = min(values), max(values)
    if high - low + 1 <= bins:
        edges = [v - 0.5 for v in range(low, high + 2)]
        return edges, [values.get(v, 0) for v in range(low, high + 1)]
    ordered = sorted(values)
    total = sum(values.values())
    running, cut = 0, high
    for v in ordered:  # the top 1 % would stretch the axis: fold it into the last bar
        running += values[v]
        if running >= total * 0.99:
            cut = v
            break
    width = max(1, math.ceil((cut - low + 1) / bins))
    edges = [float(low + i * width) for i in range(bins + 1) if low + i * width <= cut + width]
    binned = [0] * (len(edges) - 1)
    for v, n in values.items():
        binned[min((v - low) // width, len(binned) - 1)] += n
    return [e - 0.5 for e in edges], binned
