"""Progress for every stage: counts, rate and ETA from the ledger, shown before records exist."""

from __future__ import annotations

import subprocess
from pathlib import Path

from engine_support import cli, subprocess_env

from asyncgen.engine.progress import progress_table
from asyncgen.engine.stages import StageMeter
from asyncgen.llm.usage import Charge
from asyncgen.store.ledger import Ledger


class Stages:
    def stage_counts(self) -> dict[str, tuple[int | None, int | None]]:
        return {"personas": (50, 50), "queries": (None, 24), "style transfer": (None, 24)}


def test_rows_count_requests_by_stage_with_rate_and_eta(tmp_path: Path) -> None:
    now = [0.0]
    ledger = Ledger(tmp_path / "ledger.jsonl", "s1", fsync_interval=0)
    ledger.open()
    meter = StageMeter(ledger, Stages(), clock=lambda: now[0])
    assert [r.label for r in meter.rows()] == ["personas", "queries", "style transfer"]
    for _ in range(12):
        ledger.record(Charge("m", "query_generation", "ok", True, 10, 5))
    now[0] = 4.0
    rows = {r.label: r for r in meter.rows()}
    assert rows["queries"].done == 12 and rows["queries"].rate == 3.0
    assert rows["queries"].eta_s == 4.0 and rows["style transfer"].eta_s is None
    assert rows["queries"].text() == "12/24 (50%) 3.0/s eta 0:04"
    ledger.record(Charge("m", "assistant", "ok", True, 10, 5))
    assert "assistant turns" in {r.label for r in meter.rows()}
    table = progress_table(None, "preparing", meter.rows())
    assert table.row_count == 4


def test_the_stages_show_before_the_first_record(tmp_path: Path) -> None:
    """Without a terminal the log gets a stage line during prepare (it was blank before)."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "engine:\n  progress_interval: 0.2\n"
        "sim:\n  latency_median: 0.05\ndedup:\n  enabled: false\n"
    )
    out = tmp_path / "run"
    done = subprocess.run(
        cli("generate", "--n", "30", "--out", str(out), "--config", str(config)),
        env=subprocess_env(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    log = (out / "asyncgen.log").read_text().splitlines()
    first_stage = next(i for i, line in enumerate(log) if "stages: personas 50/50" in line)
    first_run = next(i for i, line in enumerate(log) if "progress 0/30" in line or "ok " in line)
    assert first_stage < first_run
    assert "queries " in log[first_stage] and "/36" in log[first_stage]
