"""The ledger: spend that stays true across kills, resumes and no-op resumes (real simulator)."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_support import cli, subprocess_env

from asyncgen.store.ledger import read_ledger

KEY = "sk-ledger-test"
CONFIG = """
llm:
  prices:
    sim-model: {input: 2.0, output: 8.0}
engine:
  max_workers: 4
  fsync_interval: 0.0
  metrics_interval: 0.5
dedup:
  enabled: false
"""


def _command(out: Path, config: Path, n: int, base_url: str) -> list[str]:
    return cli(
        "generate", "--pipeline", "engine_support:FlakyEcho", "--n", str(n), "--out", str(out),
        "--config", str(config), "--base-url", base_url, "--model", "sim-model", "--quiet",
    )  # fmt: skip


def _lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes() if path.exists() else b""
    return [orjson.loads(x) for x in data[: data.rfind(b"\n") + 1].splitlines()]


def _line_count(path: Path) -> int:
    """Complete lines in a file (cheap enough to poll every few milliseconds)."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _env() -> dict[str, str]:
    return subprocess_env(OPENAI_API_KEY=KEY)


def test_billed_failures_are_counted_and_a_no_op_resume_keeps_the_bill(
    tmp_path: Path, sim_factory: Callable[..., Any]
) -> None:
    """Empty and truncated answers are billed; the ledger matches the simulator's own count;
    a rerun of a finished run changes nothing and its summary still shows the whole bill."""
    sim = sim_factory(api_key=KEY, latency_median=0.01, empty_content=0.1, error_500=0.05, seed=3)
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    cmd = _command(out, config, 60, sim.base_url)
    first = subprocess.run(cmd, env=_env(), capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr.decode()
    billed = sim.stats()
    totals = read_ledger(out)
    assert totals is not None
    assert totals.total.tokens_in == billed["prompt_tokens"]
    assert totals.total.tokens_out == billed["completion_tokens"]
    assert totals.total.billed_failures == billed["faults"].get("empty_content", 0) > 0
    assert totals.total.attempts == billed["requests"]
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["tokens_in_total"] == billed["prompt_tokens"]
    expected_cost = (billed["prompt_tokens"] * 2.0 + billed["completion_tokens"] * 8.0) / 1e6
    assert summary["cost_usd_total"] == pytest.approx(expected_cost, rel=1e-6)
    assert summary["cost_per_record"] == pytest.approx(expected_cost / 60, rel=1e-4)
    assert summary["spend"]["by_stage"]["generic"]["requests"] == summary["requests_total"]

    again = subprocess.run(cmd, env=_env(), capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    assert sim.stats()["requests"] == billed["requests"]  # nothing was sent
    resumed = orjson.loads((out / "summary.json").read_bytes())
    assert resumed["requests"] == 0 and resumed["cost_usd"] == 0
    for key in ("requests_total", "tokens_in_total", "tokens_out_total", "cost_usd_total"):
        assert resumed[key] == summary[key] and resumed[key] > 0


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_twenty_sigkills_the_ledger_matches_the_simulators_billed_tokens(
    tmp_path: Path, sim_factory: Callable[..., Any]
) -> None:
    """After 20 SIGKILLs mid-run the ledger's tokens are the simulator's within 1 %.

    Each kill lands once the ledger has grown by a seeded number of lines (progress, not a
    timer: a loaded machine can neither let a session finish first nor kill it before it
    charged anything)."""
    sim = sim_factory(
        api_key=KEY,
        latency_median=0.03,
        latency_sigma=0.3,
        empty_content=0.05,
        truncate_length=0.05,
        error_500=0.03,
        drop_connection=0.02,
        seed=11,
    )
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out, n, rng = tmp_path / "run", 5000, random.Random(20261207)
    cmd = _command(out, config, n, sim.base_url)
    kills = 0
    while kills < 20:
        target = _line_count(out / "ledger.jsonl") + rng.randint(5, 250)
        proc = subprocess.Popen(cmd, env=_env(), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while _line_count(out / "ledger.jsonl") < target:
            assert proc.poll() is None, "the session ended before its kill"
            assert time.monotonic() < deadline, "the session charged too little in 60 s"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
    final = subprocess.run(cmd, env=_env(), capture_output=True, timeout=300)
    assert final.returncode == 0, final.stderr.decode()
    billed = sim.stats()
    totals = read_ledger(out)
    assert totals is not None and len(totals.by_session) == 21
    assert billed["tokens"] > 0
    gap = totals.total.tokens - billed["tokens"]
    assert abs(gap) <= 0.01 * billed["tokens"], (totals.total.tokens, billed["tokens"], gap)
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["tokens_in_total"] + summary["tokens_out_total"] == totals.total.tokens
    records = _lines(out / "records.jsonl")
    assert len(records) == n and len({r["id"] for r in records}) == n


def test_stats_and_report_read_the_ledger(tmp_path: Path) -> None:
    """`stats` and `report` show the ledger's bill, by stage, matching summary.json."""
    out = tmp_path / "run"
    made = subprocess.run(
        cli("generate", "--n", "3", "--out", str(out), "--quiet", "--no-dedup"),
        env=subprocess_env(),
        capture_output=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr.decode()
    summary = orjson.loads((out / "summary.json").read_bytes())
    shown = subprocess.run(
        cli("stats", str(out), "--json"), env=subprocess_env(), capture_output=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr.decode()
    spend = orjson.loads(shown.stdout)["spend"]
    assert spend["requests"] == summary["requests_total"] > 0
    assert spend["cost_usd"] == summary["cost_usd_total"]
    assert {"query_generation", "assistant", "user_feedback"} <= set(spend["by_stage"])
    # stages sized to the plan: 3 items + 20 % spares = 4 queries, one call each to write
    # and to style (the 50 personas x 6 queries of before cost 350 calls)
    stages = summary["spend"]["by_stage"]
    assert stages["query_generation"]["requests"] == 4
    assert stages["style_transfer"]["requests"] == 4
    assert len((out / "queries.jsonl").read_text().splitlines()) == 4
    report = subprocess.run(
        cli("report", str(out), "--no-embed"),
        env=subprocess_env(),
        capture_output=True,
        timeout=120,
    )
    assert report.returncode == 0, report.stderr.decode()
    cost = orjson.loads((out / "report.json").read_bytes())["cost"]
    assert cost["source"] == "ledger" and cost["requests"] == summary["requests_total"]
    assert cost["tokens_in"] == summary["tokens_in_total"]


async def test_batch_answers_lines_are_written_together_at_the_end_of_the_loop_turn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A part's answers charged in one step are one write; a charge without a part (an
    online call) writes the held lines first, so the file keeps the order of charges;
    `flush` writes them at once; nothing is lost on close."""
    import asyncio
    import os

    from asyncgen.llm.usage import Charge
    from asyncgen.store.ledger import Ledger

    writes: list[int] = []
    real_write = os.write

    def counting_write(fd: int, data: Any) -> int:
        writes.append(len(data))
        return real_write(fd, data)

    ledger = Ledger(tmp_path / "ledger.jsonl", "s1", fsync_interval=0)
    await asyncio.to_thread(ledger.open)
    monkeypatch.setattr(os, "write", counting_write)
    for _ in range(300):
        ledger.record(Charge("m", "k", "ok", True, 10, 5, ref="batch:r:00000-000"))
    assert writes == [] and _line_count(ledger.path) == 0  # held until the turn ends
    await asyncio.sleep(0)
    assert len(writes) == 1 and _line_count(ledger.path) == 300
    ledger.record(Charge("m", "k", "ok", True, 10, 5, ref="batch:r:00001-000"))
    ledger.record(Charge("m", "online", "ok", True, 1, 1))
    assert [line.get("ref") for line in _lines(ledger.path)[-2:]] == ["batch:r:00001-000", None]
    ledger.record(Charge("m", "k", "ok", True, 10, 5, ref="batch:r:00001-000"))
    ledger.flush()
    assert _line_count(ledger.path) == 303
    ledger.record(Charge("m", "k", "ok", True, 10, 5, ref="batch:r:00001-000"))
    await ledger.aclose()
    assert _line_count(ledger.path) == 304
    totals = await asyncio.to_thread(read_ledger, tmp_path)
    assert totals is not None and totals.total.attempts == 304
