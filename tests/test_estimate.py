"""`generate --estimate`: a pilot, projected to the full n; nothing written to --out."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from engine_support import cli, subprocess_env

from asyncgen.cli.estimate import pilot_config, project, queries_for
from asyncgen.config import load_config
from asyncgen.store.ledger import LedgerTotals


def test_projection_scales_conversations_by_records_and_stages_by_queries(
    tmp_path: Path,
) -> None:
    config = load_config(None, {"engine.n": 1000}, environ={}, env_file=None)
    pilot = pilot_config(config, 20, tmp_path / "p")
    assert pilot.engine.n == 20 and config.engine.n == 1000
    assert not pilot.interaction_generation.export_training_data
    spend = LedgerTotals()
    for kind, count in (("query_generation", 24), ("style_transfer", 24), ("assistant", 50)):
        for _ in range(count):
            spend.add({"kind": kind, "final": True, "outcome": "ok", "in": 100, "out": 10,
                       "usd": 0.001})  # fmt: skip
    summary = {"done": 20, "wall_time_s": 2.0}
    estimate = project(config, pilot, spend, summary, (600.0, None, 0.5))
    stage_scale = queries_for(config) / queries_for(pilot)  # 1200 / 24
    assert stage_scale == 50
    assert estimate.requests == round(48 * stage_scale) + 50 * 1000 // 20
    assert estimate.cost_usd == pytest.approx(0.001 * estimate.requests)
    assert estimate.bound == "rpm" and estimate.wall_s == pytest.approx(estimate.requests / 10)


def test_estimate_prints_a_projection_and_writes_nothing_to_out(tmp_path: Path) -> None:
    out = tmp_path / "night"
    done = subprocess.run(
        cli("generate", "--n", "500", "--out", str(out), "--estimate", "--estimate-items", "5"),
        env=subprocess_env(),
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()
    text = done.stdout.decode()
    assert text.startswith("pilot: 5/5 records") and "projected for --n 500:" in text
    requests = int(re.search(r"requests\s+([\d,]+)", text).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert requests > 500 and re.search(r"cost\s+\$\d", text) and "wall time" in text
    assert not out.exists()
