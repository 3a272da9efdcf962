"""`generate --estimate`: a pilot, projected to the full n; nothing written to --out."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import orjson
import pytest
from engine_support import cli, subprocess_env

from asyncgen.cli.estimate import (
    pilot_config,
    planned_calls,
    project,
    session_seconds,
    stage_seconds,
)
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
    wanted, piloted = planned_calls(config), planned_calls(pilot)
    # 1200 queries over 50 personas: 24 each, written 20 at a time (2 calls), styled 1 by 1
    assert wanted == {"query_generation": 100, "style_transfer": 1200}
    assert piloted == {"query_generation": 24, "style_transfer": 24}
    assert estimate.requests == round(24 * 100 / 24) + round(24 * 1200 / 24) + 50 * 1000 // 20
    assert estimate.cost_usd == pytest.approx(0.001 * estimate.requests)
    # start-up: the pilot's 2 s beyond its stage (24 personas in 2 waves of 20, 1 write
    # + 1 style round each) and its 50 conversation calls at 0.5 s, 20 in flight
    pilot_busy = stage_seconds(pilot, 0.5) + 50 * 0.5 / 20
    assert pilot_busy == pytest.approx(2 * 2 * 0.5 + 1.25)
    start_up = max(0.0, 2.0 - pilot_busy)
    assert estimate.bound == "rpm"
    assert estimate.wall_s == pytest.approx(start_up + estimate.requests / 10)


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


def test_estimate_is_close_to_a_real_run_of_the_same_n(tmp_path: Path) -> None:
    """n=200 at 0.2 s latency on the simulator: requests and cost within 10 %, wall time
    within 30 % of the real run's session (before: +19 % requests, +15 % cost, wall a
    third short)."""
    config = tmp_path / "slow.yaml"
    config.write_text("sim:\n  latency_median: 0.2\n")
    common = ("--n", "200", "--config", str(config), "--no-dedup", "--quiet")
    estimate = subprocess.run(
        cli("generate", *common, "--estimate"), env=subprocess_env(), capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert estimate.returncode == 0, estimate.stderr.decode()
    text = estimate.stdout.decode()
    projected_requests = int(re.search(r"requests\s+([\d,]+)", text).group(1).replace(",", ""))  # type: ignore[union-attr]
    projected_cost = float(re.search(r"cost\s+\$([\d.,]+)", text).group(1).replace(",", ""))  # type: ignore[union-attr]
    projected_wall = float(re.search(r"\(([\d.,]+) s;", text).group(1).replace(",", ""))  # type: ignore[union-attr]
    real = subprocess.run(
        cli("generate", *common, "--out", str(tmp_path / "real")), env=subprocess_env(),
        capture_output=True, timeout=120,
    )  # fmt: skip
    assert real.returncode == 0, real.stderr.decode()
    summary = orjson.loads((tmp_path / "real" / "summary.json").read_bytes())
    assert summary["done"] == 200
    assert projected_requests == pytest.approx(summary["requests_total"], rel=0.10)
    assert projected_cost == pytest.approx(summary["cost_usd_total"], rel=0.10)
    # the session (prepare, stages, conversations) is what the estimate projects; the
    # process's own start-up and closing report vary with the machine's load, not with n
    assert projected_wall == pytest.approx(session_seconds(summary), rel=0.30)
