"""Report plots as PNG bytes (matplotlib, Agg backend, no screen needed)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from asyncgen.report.coverage import Coverage

MAX_BARS = 30


@dataclass(frozen=True)
class Plot:
    """One figure: a file-safe name, a title, and its PNG."""

    name: str
    title: str
    png: bytes


def _figure(width: float = 7.5, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt.subplots(figsize=(width, height), dpi=90)


def _to_png(fig: Any) -> bytes:
    from matplotlib import pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def coverage_plot(cov: Coverage) -> Plot:
    """Realised shares as bars, planned shares as markers."""
    shares = cov.shares
    keys = sorted(set(shares) | set(cov.target or {}), key=lambda k: -shares.get(k, 0.0))
    keys = keys[:MAX_BARS]
    fig, ax = _figure()
    positions = range(len(keys))
    ax.bar(positions, [shares.get(k, 0.0) for k in keys], color="#4C72B0", label="realised")
    if cov.target:
        ax.scatter(
            positions,
            [cov.target.get(k, 0.0) for k in keys],
            color="#DD8452",
            marker="_",
            s=400,
            linewidths=3,
            label="target",
            zorder=3,
        )
    ax.set_xticks(list(positions))
    ax.set_xticklabels(keys, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("share")
    ax.set_title(f"{cov.name}: realised vs target" if cov.target else f"{cov.name}: realised")
    ax.legend(fontsize=8)
    return Plot(f"coverage_{_safe(cov.name)}", f"Coverage: {cov.name}", _to_png(fig))


def histogram_plot(name: str, title: str, histogram: dict[str, int], xlabel: str) -> Plot:
    """Bars of an integer histogram (e.g. turns per record)."""
    fig, ax = _figure()
    keys = sorted(histogram, key=lambda k: float(k))
    ax.bar(keys, [histogram[k] for k in keys], color="#55A868")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("records")
    ax.set_title(title)
    return Plot(name, title, _to_png(fig))


def similarity_plot(summary: dict[str, Any]) -> Plot | None:
    """Distribution of nearest-neighbour similarity with the duplicate threshold marked."""
    hist = summary.get("histogram")
    if not hist:
        return None
    edges, counts = hist["edges"], hist["counts"]
    fig, ax = _figure()
    ax.bar(edges[:-1], counts, width=edges[1] - edges[0], align="edge", color="#8172B2")
    ax.axvline(summary["threshold"], color="#C44E52", linestyle="--", label="dedup threshold")
    ax.set_xlabel("cosine similarity to nearest other record")
    ax.set_ylabel("records")
    ax.set_title("Nearest-neighbour embedding similarity")
    ax.legend(fontsize=8)
    return Plot("nearest_neighbour", "Nearest-neighbour similarity", _to_png(fig))


def noise_plot(per_strategy: dict[str, dict[str, float]]) -> Plot | None:
    """Character and word edit rate per noise strategy."""
    if not per_strategy:
        return None
    names = list(per_strategy)[:MAX_BARS]
    fig, ax = _figure()
    xs = range(len(names))
    ax.bar(
        [x - 0.2 for x in xs],
        [per_strategy[n]["char_edit_rate"] for n in names],
        width=0.4,
        label="char edit rate",
    )
    ax.bar(
        [x + 0.2 for x in xs],
        [per_strategy[n]["word_edit_rate"] for n in names],
        width=0.4,
        label="word edit rate",
    )
    ax.set_xticks(list(xs))
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_title("Noise: edit rate per strategy")
    ax.legend(fontsize=8)
    return Plot("noise", "Noise edit rates", _to_png(fig))


def all_plots(report: dict[str, Any], coverages: list[Coverage]) -> list[Plot]:
    """Every plot the report shows, in display order."""
    plots = [coverage_plot(c) for c in coverages if c.realised or c.target]
    turns = report["length"]["turns_histogram"]
    if turns:
        plots.append(histogram_plot("turns", "Turns per record", turns, "turns"))
    nn = report["diversity"].get("nearest_neighbour") or {}
    extra = [similarity_plot(nn), noise_plot(report["noise"]["per_strategy"])]
    plots.extend(p for p in extra if p is not None)
    return plots


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)
