"""Write report.json, report.html and the plot PNGs of a run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import StoreError
from asyncgen.report.build import build_report
from asyncgen.report.html import render_html
from asyncgen.report.plots import Plot, all_plots
from asyncgen.store.atomic import write_bytes_atomic

JudgeRunner = Callable[[list[dict[str, Any]]], Awaitable[dict[str, Any]]]


def _prepare_target(run_dir: Path, target: Path) -> None:
    if not run_dir.is_dir():
        raise StoreError(f"{run_dir}: not a run directory")
    target.mkdir(parents=True, exist_ok=True)


async def write_report(
    run_dir: Path,
    out_dir: Path | None = None,
    *,
    sample_size: int = 2000,
    seed: int = 0,
    embed: bool = True,
    judge: JudgeRunner | None = None,
    judge_sample: int = 50,
) -> dict[str, Any]:
    """Compute the report and write it; returns report.json's content.

    The heavy pass (reading, embedding, plotting) runs in a worker thread so a judge pass
    and any other coroutine keep the event loop.
    """
    import asyncio

    target = out_dir or run_dir
    await asyncio.to_thread(_prepare_target, run_dir, target)
    report, coverages, tally = await asyncio.to_thread(
        build_report, run_dir, sample_size=sample_size, seed=seed, embed=embed
    )
    if judge is not None:
        report["judge"] = await judge(tally.record_sample.items[:judge_sample])
    plots = await asyncio.to_thread(all_plots, report, coverages)
    report["plots"] = [f"report_plots/{p.name}.png" for p in plots]
    await asyncio.to_thread(_write_files, target, report, plots)
    return report


def _write_files(target: Path, report: dict[str, Any], plots: list[Plot]) -> None:
    plot_dir = target / "report_plots"
    plot_dir.mkdir(exist_ok=True)
    for plot in plots:
        write_bytes_atomic(plot_dir / f"{plot.name}.png", plot.png)
    write_bytes_atomic(target / "report.json", orjson.dumps(report, option=orjson.OPT_INDENT_2))
    write_bytes_atomic(target / "report.html", render_html(report, plots).encode("utf-8"))
