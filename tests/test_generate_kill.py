"""A real `asyncgen generate` killed at random moments, and stopped by SIGTERM (simulator)."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import orjson
from engine_support import cli, subprocess_env

CONFIG = """
sim:
  latency_median: 0.05
  latency_sigma: 0.3
engine:
  max_workers: 4
  fsync_interval: 0.0
  metrics_interval: 0.5
  grace_period: 20.0
dedup:
  enabled: false
"""


def command(out: Path, config: Path, n: int, pipeline: str) -> list[str]:
    """The same command line every time (a rerun resumes)."""
    return cli(
        "generate", "--pipeline", pipeline, "--n", str(n), "--out", str(out),
        "--config", str(config), "--quiet",
    )  # fmt: skip


def complete_lines(path: Path) -> list[dict[str, object]]:
    """Parse every newline-terminated line (a torn tail after a kill is ignored here)."""
    if not path.exists():
        return []
    data = path.read_bytes()
    return [orjson.loads(line) for line in data[: data.rfind(b"\n") + 1].splitlines()]


def assert_run_is_exact(out: Path, n: int) -> dict[str, object]:
    """Exactly n records, unique ids, every line parses, the summary adds up to the files."""
    records = (out / "records.jsonl").read_bytes()
    assert records.endswith(b"\n")
    parsed = [orjson.loads(line) for line in records.splitlines()]
    ids = [r["id"] for r in parsed]
    assert len(ids) == n and len(set(ids)) == n
    failures = [orjson.loads(line) for line in (out / "failures.jsonl").read_bytes().splitlines()]
    failed_ids = {f["id"] for f in failures}
    assert len(failed_ids) == len(failures) and not failed_ids & set(ids)
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["done"] == n and summary["failed"] == len(failures)
    assert (
        summary["planned"]
        == summary["done"] + summary["failed"] + summary["rejected"] + summary["not_started"]
    )
    assert summary["target"] == summary["done"] + summary["not_started"] + summary["unreplaced"]
    assert all(r.get("simulated") is True for r in parsed)
    return summary


def test_sigkill_at_random_moments_then_rerun_gives_exactly_n(tmp_path: Path) -> None:
    """Killed with SIGKILL several times mid-run, reruns end with exactly n unique records."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out, n, rng = tmp_path / "run", 300, random.Random(20261123)
    cmd = command(out, config, n, "engine_support:FlakyEcho")
    partial_states = 0
    # Each kill lands once the file holds a seeded number of records (not after a timer, so
    # a loaded machine cannot let the run finish first or kill it before it wrote anything).
    for target in (rng.randint(5, 80), rng.randint(100, 180), rng.randint(200, 260)):
        proc = subprocess.Popen(cmd, env=subprocess_env(), stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(complete_lines(out / "records.jsonl")) < target:
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended early"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        lines = complete_lines(out / "records.jsonl")
        assert len({r["id"] for r in lines}) == len(lines)
        partial_states += 0 < len(lines) < n
    assert partial_states == 3
    final = subprocess.run(cmd, env=subprocess_env(), capture_output=True, timeout=120)
    assert final.returncode == 0, final.stderr.decode()
    summary = assert_run_is_exact(out, n)
    assert summary["status"] == "complete" and summary["done_before"] > 0


def test_sigterm_drains_in_flight_and_writes_the_summary(tmp_path: Path) -> None:
    """SIGTERM: in-flight items finish, the summary counts the rest, exit 1; a rerun completes."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out, n = tmp_path / "run", 200
    cmd = command(out, config, n, "engine_support:EchoPipeline")
    proc = subprocess.Popen(cmd, env=subprocess_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while len(complete_lines(out / "records.jsonl")) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err.decode()
    summary = orjson.loads((out / "summary.json").read_bytes())
    records = complete_lines(out / "records.jsonl")
    assert summary["status"] == "interrupted" and summary["done"] == len(records) < n
    assert summary["not_started"] == n - summary["done"] and summary["failed"] == 0
    assert "finishing in-flight" in (out / "asyncgen.log").read_text()
    assert (out / "records.jsonl").read_bytes().endswith(b"\n")
    rerun = subprocess.run(cmd, env=subprocess_env(), capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert_run_is_exact(out, n)


def test_second_ctrl_c_stops_at_once_without_torn_lines(tmp_path: Path) -> None:
    """Two SIGINTs: the run stops without waiting for slow answers; exit 1, whole lines only."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG.replace("latency_median: 0.05", "latency_median: 30.0"))
    out = tmp_path / "run"
    cmd = command(out, config, 50, "engine_support:EchoPipeline")
    proc = subprocess.Popen(cmd, env=subprocess_env(), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err.decode()
    assert time.monotonic() - started < 10
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["status"] == "interrupted" and summary["not_started"] == 50 - summary["done"]
    data = (out / "records.jsonl").read_bytes()
    assert data == b"" or data.endswith(b"\n")
