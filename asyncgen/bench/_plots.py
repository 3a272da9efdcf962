"""Benchmark plots drawn with matplotlib's Agg backend, returned as PNG bytes.

matplotlib is imported inside the functions so `asyncgen --help` stays instant.
"""

from __future__ import annotations

import io
from typing import Any

from asyncgen.bench._stats import StepStats

_DPI = 110
# Okabe-Ito: told apart with the common colour-vision deficiencies; markers differ too
OK, SENT, SUSTAINED, GOODPUT = "#009E73", "#6b6b6b", "#CC79A7", "#0072B2"
LIMITED, ERRORS, P50, P90, P99 = "#D55E00", "#E69F00", "#0072B2", "#E69F00", "#D55E00"
TTFT, ITL = "#009E73", "#CC79A7"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 10.5, "axes.titlesize": 12, "legend.fontsize": 9.5})
    return plt


def _headroom(ax: Any, values: list[float]) -> None:
    """y from 0 to 12 % above the highest value, so no line or marker sits on the frame."""
    finite = [v for v in values if v == v]  # NaN != NaN
    top = max(finite) if finite else 1.0
    ax.set_ylim(0, top * 1.12 if top > 0 else 1.0)


def _x_room(ax: Any, xs: list[float]) -> None:
    """A margin either side of the first and last step (log axes get a ratio)."""
    if len(xs) < 2:
        return
    low, high = min(xs), max(xs)
    if ax.get_xscale() == "log":
        ax.set_xlim(low / 1.25, high * 1.25)
    else:
        pad = (high - low) * 0.05
        ax.set_xlim(low - pad, high + pad)


def _legend_below(ax: Any, handles: list[Any], labels: list[str]) -> None:
    """The legend under the plot, where it covers nothing."""
    ax.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.16),
        ncol=min(3, len(labels)),
        frameon=False,
    )


def _x_label(profile: str) -> str:
    return "concurrency (requests in flight)" if profile == "sweep" else "offered rate (requests/s)"


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    _pyplot().close(fig)
    return buf.getvalue()


def _ordered(steps: list[StepStats]) -> list[StepStats]:
    """One step per x, by x: superseded runs left out, a confirmed repeat shown once."""
    last = {s.x: s for s in steps if not s.superseded}
    return [last[x] for x in sorted(last)]


def _style_x(ax: Any, profile: str, steps: list[StepStats]) -> None:
    ax.set_xlabel(_x_label(profile))
    if profile == "sweep" and len(steps) > 1 and max(s.x for s in steps) >= 8:
        ax.set_xscale("log", base=2)
        levels = sorted({int(s.x) for s in steps})
        ax.set_xticks(levels, [str(v) for v in levels])
        ax.minorticks_off()
    ax.grid(True, alpha=0.3)


def _finish(
    fig: Any, ax: Any, steps: list[StepStats], profile: str, title: str, *twins: Any
) -> bytes:
    """The step plots' common end: x axis and margins, one legend below for `ax` and its
    `twins` (second y axes), the title, and the PNG."""
    _style_x(ax, profile, steps)
    _x_room(ax, [s.x for s in steps])
    handles, labels = ax.get_legend_handles_labels()
    for twin in twins:
        more_handles, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    _legend_below(ax, handles, labels)
    ax.set_title(title)
    return _png(fig)


def _rate_lines(ax: Any, steps: list[StepStats], profile: str) -> None:
    """Successful, sent (open loop only), drain-corrected and goodput requests/s."""
    xs = [s.x for s in steps]
    shown = [s.success_per_s for s in steps]
    ax.plot(xs, shown, "o-", color=OK, label="successful req/s")
    if profile != "sweep":  # closed-loop senders spin on fast failures: sent/s says nothing
        sent = [s.requests_per_s for s in steps]
        ax.plot(xs, sent, "s--", color=SENT, label="sent req/s")
        shown += sent
    if any(s.sustained_share < 1 for s in steps):
        sustained = [s.sustained_success_per_s for s in steps]
        ax.plot(xs, sustained, "D:", color=SUSTAINED, label="sustainable req/s (drain-corrected)")
    if any(s.goodput_per_s is not None for s in steps):
        goodput = [s.goodput_per_s or 0.0 for s in steps]
        ax.plot(xs, goodput, "^:", color=GOODPUT, label="goodput/s (under latency target)")
    ax.set_ylabel("requests/s")
    _headroom(ax, shown)


def _failure_lines(ax: Any, steps: list[StepStats]) -> Any:
    """429 and other-error shares on a second axis."""
    xs = [s.x for s in steps]
    ax2 = ax.twinx()
    limited = [100 * s.rate_limited_fraction for s in steps]
    ax2.plot(xs, limited, "x-", color=LIMITED, label="429 %")
    others = [100 * s.other_error_fraction for s in steps]
    ax2.plot(xs, others, "v:", color=ERRORS, label="other errors %")
    ax2.set_ylabel("share of requests (%)")
    ax2.set_ylim(0, 105)
    return ax2


def throughput_png(steps: list[StepStats], profile: str, onset: float | None) -> bytes:
    """Main plot: successful requests/s (and sent, sustained, goodput), 429 and error shares."""
    steps = _ordered(steps)
    fig, ax = _pyplot().subplots(figsize=(9, 5))
    _rate_lines(ax, steps, profile)
    ax2 = _failure_lines(ax, steps)
    if onset is not None:
        what = "errors from" if profile == "sweep" else "429s from"
        ax.axvline(onset, color=LIMITED, linestyle="--", alpha=0.7)
        top = ax.get_ylim()[1] * 0.97
        ax.annotate(f"{what} {onset:.4g} ", (onset, top), color=LIMITED, ha="right", va="top")
    return _finish(fig, ax, steps, profile, "Throughput and failures", ax2)


def latency_png(steps: list[StepStats], profile: str) -> bytes:
    """Latency p50/p90/p99 of successful requests, plus TTFT and ITL p50 when streamed."""
    steps = _ordered(steps)
    xs = [s.x for s in steps]
    fig, ax = _pyplot().subplots(figsize=(9, 4.6))
    shown: list[float] = []
    for q, style, colour in (("p50", "o-", P50), ("p90", "s--", P90), ("p99", "^:", P99)):
        values = [_nan(s.latency[q]) for s in steps]
        ax.plot(xs, values, style, color=colour, label=f"latency {q}")
        shown += values
    if any(s.ttft["p50"] is not None for s in steps):
        ttft = [_nan(s.ttft["p50"]) for s in steps]
        itl = [_nan(s.itl["p50"]) for s in steps]
        ax.plot(xs, ttft, "v-", color=TTFT, label="time to first token p50")
        ax.plot(xs, itl, "P-", color=ITL, label="inter-token p50")
        shown += ttft + itl
    ax.set_ylabel("seconds")
    _headroom(ax, shown)
    return _finish(fig, ax, steps, profile, "Latency of successful requests")


def tokens_png(steps: list[StepStats], profile: str) -> bytes:
    """Input and output tokens/s of successful requests."""
    steps = _ordered(steps)
    xs = [s.x for s in steps]
    fig, ax = _pyplot().subplots(figsize=(9, 4.3))
    tokens_in = [s.input_tokens_per_s for s in steps]
    tokens_out = [s.output_tokens_per_s for s in steps]
    ax.plot(xs, tokens_in, "o-", color=P50, label="input tokens/s")
    ax.plot(xs, tokens_out, "s--", color=P90, label="output tokens/s")
    ax.set_ylabel("tokens/s")
    _headroom(ax, tokens_in + tokens_out)
    return _finish(fig, ax, steps, profile, "Token throughput")


def retry_after_png(steps: list[StepStats]) -> bytes | None:
    """Histogram of the Retry-After advice over every 429, or None without any."""
    counts: dict[str, int] = {}
    for step in steps:
        for bucket, n in step.retry_after["histogram"].items():
            counts[bucket] = counts.get(bucket, 0) + n
    if not counts:
        return None
    plt = _pyplot()
    keys = sorted(counts, key=float)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.bar([f"{k} s" for k in keys], [counts[k] for k in keys], color=LIMITED)
    _headroom(ax, [float(counts[k]) for k in keys])
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Retry-After (seconds)")
    ax.set_ylabel("429 responses")
    ax.set_title("Retry-After advice on 429s")
    return _png(fig)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
