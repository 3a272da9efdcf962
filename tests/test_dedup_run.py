"""Dedup inside real runs: the simulator's --duplicate-rate, and SIGKILL then --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from asyncgen.config.dedup import DedupSettings
from asyncgen.dedup import effective_threshold, export_embeddings, load_embedder, text_digest

CONFIG = """
dialogue:
  allow_base_reuse: true
sim:
  duplicate_rate: {rate}
dedup:
  save_interval: 0.3
engine:
  max_workers: 16
  max_supplement_rounds: 12  # a 20 % reject rate leaves ~0.2^4 items short after 3 rounds
"""


def _generate(
    out: Path, n: int, rate: float, stderr: int = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    config = out.parent / f"{out.name}.yaml"
    config.write_text(CONFIG.format(rate=rate))
    cmd = [sys.executable, "-m", "asyncgen", "generate", "--pipeline", "dialogue", "--n", str(n),
           "--out", str(out), "--quiet", "--config", str(config)]  # fmt: skip
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _text(record: dict[str, Any]) -> str:
    """The dialogue text the pipeline hands the gate (user/assistant lines)."""
    from asyncgen.config import RunConfig
    from asyncgen.contract import Record
    from asyncgen.dialogue.pipeline import DialoguePipeline

    pipeline = _text.__dict__.setdefault("pipeline", DialoguePipeline(RunConfig()))
    return str(pipeline.dedup_text(Record(record["id"], record)))


def _assert_unique(records: list[dict[str, Any]]) -> None:
    """No two records share a text hash or reach the static bar with each other."""
    texts = [_text(r) for r in records]
    assert len({text_digest(t) for t in texts}) == len(texts)
    vectors = load_embedder(DedupSettings()).encode(texts)
    scores = vectors @ vectors.T
    np.fill_diagonal(scores, -1.0)
    assert scores.max() < effective_threshold(DedupSettings(), "static")


@pytest.mark.slow
def test_duplicate_rate_is_rejected_and_run_still_reaches_n(tmp_path: Path) -> None:
    """With --duplicate-rate 0.2 about a fifth of candidates are rejected; n unique records stay."""
    out = tmp_path / "run"
    proc = _generate(out, 150, 0.2)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err.decode()[-2000:]
    records = _lines(out / "records.jsonl")
    rejects = [r for r in _lines(out / "rejected.jsonl") if r["reason"] == "duplicate"]
    assert len(records) == 150 and len({r["id"] for r in records}) == 150
    share = len(rejects) / (len(records) + len(rejects))
    assert 0.12 <= share <= 0.33, share
    kept = {r["id"] for r in records}
    bar = effective_threshold(DedupSettings(), "static")
    assert all(r["nearest_id"] in kept and r["score"] >= bar for r in rejects)
    _assert_unique(records)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["done"] == 150 and summary["dedup_rejects"] == len(rejects)


@pytest.mark.slow
def test_killed_run_resumes_with_index_matching_records(tmp_path: Path) -> None:
    """After SIGKILL mid-run, --resume rebuilds the index to hold exactly the records on disk."""
    out = tmp_path / "run"
    proc = _generate(out, 400, 0.2, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(_lines(out / "records.jsonl")) < 120 and time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert (out / "dedup" / "meta.json").exists()  # a cadence save happened before the kill

    cmd = [sys.executable, "-m", "asyncgen", "generate", "--resume", str(out), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, timeout=240)
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    records = _lines(out / "records.jsonl")
    assert len(records) == 400 and len({r["id"] for r in records}) == 400
    ids = json.loads((out / "dedup" / "ids.json").read_text())
    assert sorted(ids) == sorted(r["id"] for r in records)
    export_embeddings(out, tmp_path / "e.npy")
    saved = np.load(tmp_path / "e.npy")
    by_id = {r["id"]: r for r in records}
    fresh = load_embedder(DedupSettings()).encode([_text(by_id[i]) for i in ids])
    assert np.allclose(saved, fresh, atol=1e-5)
    _assert_unique(records)
