"""Write report.json and the self-contained report.html of a run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from asyncgen import offload
from asyncgen.errors import StoreError
from asyncgen.report.browse import BrowserData
from asyncgen.report.build import build_report
from asyncgen.report.page import render_page
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
    live: bool = False,
) -> dict[str, Any]:
    """Compute the report and write it; returns report.json's content.

    The heavy pass (reading, embedding, compressing the browser's chunks) runs in a
    worker thread so a judge pass and any other coroutine keep the event loop.
    """
    target = out_dir or run_dir
    await offload.to_thread(_prepare_target, run_dir, target)
    browser = BrowserData(seed=seed)
    build = partial(
        build_report, run_dir, sample_size=sample_size, seed=seed, embed=embed, browser=browser
    )
    report, _, tally = await offload.to_thread(build)  # not cpu(): never delays dedup's slot
    if judge is not None:
        report["judge"] = await judge(tally.record_sample.items[:judge_sample])
        from asyncgen.report.headline import headline

        report["headline"] = headline(report)
    await offload.to_thread(write_files, target, report, browser, live)
    return report


def write_files(target: Path, report: dict[str, Any], browser: BrowserData, live: bool) -> None:
    """report.json, then report.html (each written whole, then renamed into place)."""
    write_bytes_atomic(target / "report.json", orjson.dumps(report, option=orjson.OPT_INDENT_2))
    page = render_page(report, browser, live=live)
    write_bytes_atomic(target / "report.html", page.encode("utf-8"))
