"""`asyncgen generate --mode batch` end to end: SIGKILL mid-batch, and batch = online dialogues."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
from engine_support import cli, subprocess_env

from asyncgen.llm.batch_journal import unfinished_batches

FAST = """
llm:
  batch:
    poll_initial: 0.02
    poll_max: 0.05
    idle_flush_seconds: 0.1
engine:
  fsync_interval: 0.0
dedup:
  enabled: false
"""


def generate(out: Path, config: Path, *extra: str) -> list[str]:
    return cli(
        "generate", "--pipeline", "interaction", "--n", "6", "--seed", "5", "--out", str(out),
        "--config", str(config), "--min-turns", "2", "--max-turns", "2", "--quiet",
        "--num-personas", "3", "--queries-per-persona", "2", *extra,
    )  # fmt: skip


def parts(out: Path) -> list[dict[str, Any]]:
    folder = out / "batch" / "parts"
    if not folder.exists():
        return []
    found = []
    for path in folder.glob("*.json"):
        if not path.name.startswith("."):
            try:
                found.append(orjson.loads(path.read_bytes()))
            except orjson.JSONDecodeError:
                pass
    return found


def dialogues(out: Path) -> dict[str, list[tuple[str, str]]]:
    records = [orjson.loads(line) for line in (out / "records.jsonl").read_bytes().splitlines()]
    return {r["id"]: [(m["role"], m["content"]) for m in r["messages"]] for r in records}


def test_sigkill_while_a_batch_runs_resumes_it_without_a_second_batch(
    sim_factory: Callable[..., Any], tmp_path: Path
) -> None:
    """Killed while round 3's batch is in progress, the rerun polls that batch again, serves
    the finished rounds from the run directory, and never submits a request twice."""
    sim = sim_factory(batch={"round_time": 0.5})
    config = tmp_path / "c.yaml"
    config.write_text(FAST)
    out = tmp_path / "run"
    cmd = generate(out, config, "--base-url", sim.base_url, "--mode", "batch")
    proc = subprocess.Popen(cmd, env=subprocess_env(), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    killed_at: dict[str, Any] | None = None
    while killed_at is None and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
        live = [p for p in parts(out) if p["state"] == "created" and p["round"] >= 3]
        killed_at = live[0] if live else None
    assert killed_at is not None, "no batch of round 3 was seen in progress"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    before = {b["id"]: b for b in httpx.get(f"{sim.base_url}/batches?limit=100").json()["data"]}
    assert before[killed_at["batch_id"]]["status"] in ("validating", "in_progress")
    assert unfinished_batches(out) >= 1  # what a rerun with --mode online warns about

    final = subprocess.run(cmd, env=subprocess_env(), capture_output=True, timeout=120)
    assert final.returncode == 0, final.stderr.decode()
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["status"] == "complete" and summary["done"] == 6
    assert summary["batch"]["answered_from_earlier_session"] > 0
    batches = httpx.get(f"{sim.base_url}/batches?limit=100").json()["data"]
    assert all(b["status"] == "completed" for b in batches)
    assert [b["id"] for b in batches].count(killed_at["batch_id"]) == 1
    digests: Counter[str] = Counter()
    for batch in batches:
        content = httpx.get(f"{sim.base_url}/files/{batch['input_file_id']}/content").content
        digests.update(
            orjson.loads(line)["custom_id"].split("-", 1)[0] for line in content.splitlines()
        )
    assert digests and max(digests.values()) == 1, "a request was submitted twice"
    assert "found by its metadata" not in (out / "asyncgen.log").read_text()
    assert f"resuming batch {killed_at['batch_id']}" in (out / "asyncgen.log").read_text()
    assert unfinished_batches(out) == 0


def test_batch_and_online_runs_of_one_seed_are_the_same_dialogues(tmp_path: Path) -> None:
    """On a deterministic simulator the batch run writes the online run's dialogues, and its
    ledger costs exactly half (same tokens, half the price)."""
    config = tmp_path / "c.yaml"
    config.write_text(FAST + "sim:\n  batch:\n    round_time: 0.05\n")
    runs = {}
    for mode in ("online", "batch"):
        out = tmp_path / mode
        done = subprocess.run(
            generate(out, config, "--mode", mode), env=subprocess_env(), capture_output=True,
            timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        runs[mode] = out
    assert dialogues(runs["online"]) == dialogues(runs["batch"])
    online = orjson.loads((runs["online"] / "summary.json").read_bytes())
    batch = orjson.loads((runs["batch"] / "summary.json").read_bytes())
    assert batch["tokens_in_total"] == online["tokens_in_total"] > 0
    assert batch["tokens_out_total"] == online["tokens_out_total"]
    assert abs(batch["cost_usd_total"] - online["cost_usd_total"] / 2) <= 2e-6
    assert batch["batch"]["saving_usd"] > 0 and batch["batch"]["rounds"] >= 3


def test_complete_in_batch_mode_is_one_round(tmp_path: Path) -> None:
    """`complete --mode batch`: every line answered from one batch, results keep their ids."""
    config = tmp_path / "c.yaml"
    config.write_text(FAST + "sim:\n  batch:\n    round_time: 0.05\n")
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b"".join(
            orjson.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"Tip {i}?"}]})
            + b"\n"
            for i in range(25)
        )
    )
    output = tmp_path / "out.jsonl"
    done = subprocess.run(
        cli("complete", "--input", str(source), "--output", str(output), "--config", str(config),
            "--mode", "batch", "--quiet"),
        env=subprocess_env(), capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    results = [orjson.loads(line) for line in output.read_bytes().splitlines()]
    assert sorted(r["id"] for r in results) == sorted(f"q{i}" for i in range(25))
    summary = orjson.loads((tmp_path / "out.run" / "summary.json").read_bytes())
    assert summary["batch"]["rounds"] == 1 and summary["batch"]["batches"] == 1


def test_every_conversation_joins_one_round_per_turn(tmp_path: Path) -> None:
    """Dialogue pipeline, 600 conversations of two calls each: two rounds of 600 (one
    batch each), not a first round sent before every started conversation had asked (a
    ticket handed to a waking worker used to count neither as queued nor as running)."""
    config = tmp_path / "c.yaml"
    config.write_text(
        FAST + "dialogue:\n  allow_base_reuse: true\nsim:\n  batch:\n    round_time: 0.05\n"
    )
    out = tmp_path / "run"
    done = subprocess.run(
        cli("generate", "--pipeline", "dialogue", "--n", "600", "--seed", "7", "--out", str(out),
            "--config", str(config), "--mode", "batch", "--quiet"),
        env=subprocess_env(), capture_output=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    sizes = [p["requests"] for p in sorted(parts(out), key=lambda p: p["name"])]
    assert sizes == [600, 600]


def test_the_embedded_simulators_round_time_paces_the_polls(tmp_path: Path) -> None:
    """With the built-in simulator the round time is known: default polls (first one
    after 5 s) still see each 0.5 s round end within a fraction of a second."""
    config = tmp_path / "c.yaml"
    config.write_text(
        "engine:\n  fsync_interval: 0.0\ndedup:\n  enabled: false\n"
        "llm:\n  batch:\n    idle_flush_seconds: 0.1\nsim:\n  batch:\n    round_time: 0.5\n"
    )
    out = tmp_path / "run"
    done = subprocess.run(
        generate(out, config, "--mode", "batch"), env=subprocess_env(), capture_output=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    waits = [p["extra"]["seen_ended_at"] - p["created_at"] for p in parts(out)]
    assert len(waits) >= 3 and max(waits) < 1.5, waits
