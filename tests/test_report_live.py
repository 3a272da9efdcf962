"""`generate` keeps RUN/report.html fresh while it runs, and writes the final one at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

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
    assert report["diversity"]["nearest_neighbour"]["count"] > 1  # the last one embeds
    records = (run / "records.jsonl").read_text().splitlines()
    assert len(records) == 30
