"""Benchmark plots drawn with matplotlib's Agg backend, returned as PNG bytes.

matplotlib is imported inside the functions so `asyncgen --help` stays instant.
"""

from __future__ import annotations

import io
from typing import Any

from asyncgen.bench._stats import StepStats

_DPI = 110


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


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


def _rate_lines(ax: Any, steps: list[StepStats], profile: str) -> None:
    """Successful, sent (open loop only), drain-corrected and goodput requests/s."""
    xs = [s.x for s in steps]
    ax.plot(xs, [s.success_per_s for s in steps], "o-", color="tab:green", label="successful req/s")
    if profile != "sweep":  # closed-loop senders spin on fast failures: sent/s says nothing
        ax.plot(xs, [s.requests_per_s for s in steps], "s--", color="tab:gray", label="sent req/s")
    if any(s.sustained_share < 1 for s in steps):
        sustained = [s.sustained_success_per_s for s in steps]
        ax.plot(
            xs, sustained, "o:", color="tab:purple", label="sustainable req/s (drain-corrected)"
        )
    if any(s.goodput_per_s is not None for s in steps):
        goodput = [s.goodput_per_s or 0.0 for s in steps]
        ax.plot(xs, goodput, "^:", color="tab:blue", label="goodput/s (under latency target)")
    ax.set_ylabel("requests/s")
    ax.set_ylim(bottom=0)


def _failure_lines(ax: Any, steps: list[StepStats]) -> Any:
    """429 and other-error shares on a second axis."""
    xs = [s.x for s in steps]
    ax2 = ax.twinx()
    limited = [100 * s.rate_limited_fraction for s in steps]
    ax2.plot(xs, limited, "x-", color="tab:red", label="429 %")
    others = [100 * s.other_error_fraction for s in steps]
    ax2.plot(xs, others, "d:", color="tab:orange", label="other errors %")
    ax2.set_ylabel("share of requests (%)")
    ax2.set_ylim(0, 105)
    return ax2


def throughput_png(steps: list[StepStats], profile: str, onset: float | None) -> bytes:
    """Main plot: successful requests/s (and sent, sustained, goodput), 429 and error shares."""
    plt = _pyplot()
    steps = _ordered(steps)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    _rate_lines(ax, steps, profile)
    _style_x(ax, profile, steps)
    ax2 = _failure_lines(ax, steps)
    if onset is not None:
        what = "errors from" if profile == "sweep" else "429s from"
        ax.axvline(onset, color="tab:red", linestyle="--", alpha=0.6)
        top = ax.get_ylim()[1] * 0.95
        ax.annotate(f"{what} {onset:.4g}", (onset, top), color="tab:red", ha="right")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], loc="center left", fontsize=8)
    ax.set_title("Throughput and failures")
    return _png(fig)


def latency_png(steps: list[StepStats], profile: str) -> bytes:
    """Latency p50/p90/p99 of successful requests, plus TTFT and ITL p50 when streamed."""
    plt = _pyplot()
    steps = _ordered(steps)
    xs = [s.x for s in steps]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for q, style in (("p50", "o-"), ("p90", "s--"), ("p99", "^:")):
        ax.plot(xs, [_nan(s.latency[q]) for s in steps], style, label=f"latency {q}")
    if any(s.ttft["p50"] is not None for s in steps):
        ax.plot(xs, [_nan(s.ttft["p50"]) for s in steps], "v-", label="TTFT p50")
        ax.plot(xs, [_nan(s.itl["p50"]) for s in steps], "*-", label="inter-token p50")
    ax.set_ylabel("seconds")
    ax.set_ylim(bottom=0)
    _style_x(ax, profile, steps)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Latency of successful requests")
    return _png(fig)


def tokens_png(steps: list[StepStats], profile: str) -> bytes:
    """Input and output tokens/s of successful requests."""
    plt = _pyplot()
    steps = _ordered(steps)
    xs = [s.x for s in steps]
    fig, ax = plt.subplots(figsize=(8, 4.0))
    ax.plot(xs, [s.input_tokens_per_s for s in steps], "o-", label="input tokens/s")
    ax.plot(xs, [s.output_tokens_per_s for s in steps], "s-", label="output tokens/s")
    ax.set_ylabel("tokens/s")
    ax.set_ylim(bottom=0)
    _style_x(ax, profile, steps)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Token throughput")
    return _png(fig)


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
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.bar([f"{k}s" for k in keys], [counts[k] for k in keys], color="tab:red")
    ax.set_xlabel("Retry-After (seconds)")
    ax.set_ylabel("429 responses")
    ax.set_title("Retry-After advice on 429s")
    return _png(fig)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
