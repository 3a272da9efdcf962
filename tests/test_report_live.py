"""`generate` keeps RUN/report.html fresh while it runs, and writes the final one at the end."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

LIVE_BADGE = "<span class='badge live'>run in progress</span>"


def test_report_is_rewritten_during_a_run_and_final_at_the_end(tmp_path: Path) -> None:
    """A slow simulator run shows a live report mid-run; the last one matches the records."""
    config = tmp_path / "live.yaml"
    config.write_text(
        "sim:\n  latency_median: 0.02\n"
        "engine:\n  metrics_interval: 0.1\n  max_workers: 2\n"
        "report:\n  refresh_interval: 0.3\n"
    )
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [sys.executable, "-m", "asyncgen", "generate", "--n", "30", "--out", str(run)]
    process = subprocess.Popen(
        [*args, "--config", str(config), "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen_live = None
    deadline = time.monotonic() + 90
    while process.poll() is None and time.monotonic() < deadline:
        page = run / "report.html"
        if seen_live is None and page.exists():
            text = page.read_text(encoding="utf-8")
            if LIVE_BADGE in text:
                seen_live = json.loads((run / "report.json").read_text())["records"]
        time.sleep(0.05)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert seen_live is not None and 0 < seen_live < 30, "no report written mid-run"
    final = (run / "report.html").read_text(encoding="utf-8")
    assert LIVE_BADGE not in final
    report = json.loads((run / "report.json").read_text())
    assert report["records"] == 30
    assert "nearest_neighbour" not in report["diversity"]  # 30 records: no embedder load
    records = (run / "records.jsonl").read_text().splitlines()
    assert len(records) == 30


async def test_a_big_runs_rewrite_runs_in_a_child_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past IN_PROCESS_BYTES the page is written by `python -m asyncgen.report.refresh`."""
    from test_report import _make_run

    from asyncgen.config.bench import ReportSettings
    from asyncgen.report import live

    run, records = _make_run(tmp_path)
    (run / "plan.json").write_text("{}")
    monkeypatch.setattr(live, "IN_PROCESS_BYTES", 0)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(sys.path))
    report = live.LiveReport(run, ReportSettings(refresh_interval=0.01))
    report.poke()  # not due yet: the interval counts from creation
    await asyncio.sleep(0.02)
    report.poke()
    await report.finish()
    assert report.writes == 2
    page = (run / "report.html").read_text(encoding="utf-8")
    assert LIVE_BADGE not in page
    final = json.loads((run / "report.json").read_text())
    assert final["records"] == len(records)
    assert final["diversity"]["nearest_neighbour"]["count"] > 1  # the last one embeds
    gone = live.LiveReport(tmp_path / "gone", ReportSettings())
    await gone.finish()  # the child fails: logged, never raised into the run
    assert gone.writes == 0
