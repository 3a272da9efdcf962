"""Durations and counts as the progress line, the live table and the summary show them."""

from __future__ import annotations


def fmt_duration(seconds: float | None) -> str:
    """`1:02:03`, `4:05`, or `?` when unknown."""
    if seconds is None:
        return "?"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def fmt_count(value: float | None) -> str:
    """`950`, `12.3k`, `1.2M`; `-` when unknown."""
    if value is None:
        return "-"
    if abs(value) >= 1e6:
        return f"{value / 1e6:.1f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:.1f}k"
    return f"{value:.0f}"
