"""One writer per run directory: two real processes, a lock left by a SIGKILLed run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from engine_support import cli, subprocess_env

from asyncgen.errors import RunLockedError
from asyncgen.store import lock

CONFIG = """
sim:
  latency_median: 0.05
engine:
  max_workers: 2
  metrics_interval: 0.2
dedup:
  enabled: false
"""


def _command(out: Path, config: Path, n: int) -> list[str]:
    return cli(
        "generate", "--pipeline", "engine_support:EchoPipeline", "--n", str(n),
        "--out", str(out), "--config", str(config), "--quiet",
    )  # fmt: skip


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists(), f"{path} never appeared"


def test_second_process_on_the_same_out_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    """Two `generate` on one --out: the second says who holds it, exit 2, writes nothing."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    first = subprocess.Popen(
        _command(out, config, 160), env=subprocess_env(), stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(out / "metrics.jsonl")
        second = subprocess.run(
            _command(out, config, 160), env=subprocess_env(), capture_output=True, timeout=60
        )
        assert second.returncode == 2
        lines = second.stderr.decode().strip().splitlines()
        assert len(lines) == 1, lines
        assert f"pid {first.pid}" in lines[0] and "in use by another asyncgen" in lines[0]
        assert first.wait(timeout=120) == 0
    finally:
        if first.poll() is None:
            first.kill()
    records = [orjson.loads(x) for x in (out / "records.jsonl").read_bytes().splitlines()]
    assert len(records) == 160 and len({r["id"] for r in records}) == 160
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["done"] == 160 and summary["status"] == "complete"


def test_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    """SIGKILL leaves the lock file behind; the rerun takes it over and completes."""
    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "run"
    cmd = _command(out, config, 100)
    proc = subprocess.Popen(cmd, env=subprocess_env(), stderr=subprocess.DEVNULL)
    _wait_for(out / "metrics.jsonl")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    stale = orjson.loads((out / ".asyncgen.lock").read_bytes())
    assert stale["pid"] == proc.pid
    rerun = subprocess.run(cmd, env=subprocess_env(), capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr.decode()
    log = (out / "asyncgen.log").read_text()
    assert f"left by pid {proc.pid}" in log
    assert orjson.loads((out / ".asyncgen.lock").read_bytes())["pid"] != proc.pid


def test_lock_is_reentrant_in_one_process_and_exclusive_across(tmp_path: Path) -> None:
    """The same process may nest the lock (launch, then the engine); a child may not take it."""
    run = tmp_path / "r"
    with lock.run_lock(run), lock.run_lock(run):
        code = (
            "import sys; from pathlib import Path; from asyncgen.store import lock\n"
            "from asyncgen.errors import RunLockedError\n"
            "try:\n    lock.acquire(Path(sys.argv[1]))\n"
            "except RunLockedError as e:\n    print(e); sys.exit(3)\n"
        )
        child = subprocess.run(
            [sys.executable, "-c", code, str(run)],
            env=subprocess_env(),
            capture_output=True,
            timeout=30,
        )
        assert child.returncode == 3 and f"pid {os.getpid()}" in child.stdout.decode()
    lock.acquire(run)  # released: free again
    lock.release(run)
    with pytest.raises(RunLockedError):
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import sys,time; from pathlib import Path; from asyncgen.store import lock;"
             "lock.acquire(Path(sys.argv[1])); print('held', flush=True); time.sleep(30)",
             str(run)],
            env=subprocess_env(), stdout=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
            lock.acquire(run)
        finally:
            holder.kill()
            holder.communicate()
