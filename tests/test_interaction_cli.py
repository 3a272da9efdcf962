"""`asyncgen generate --pipeline interaction` end to end on the built-in simulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from asyncgen.config import load_config
from asyncgen.interaction.validate import audit_record


def _generate(
    tmp_path: Path, n: int, config_text: str = ""
) -> tuple[Path, list[dict[str, object]]]:
    config = tmp_path / "config.yaml"
    config.write_text(config_text or "{}\n")
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    cmd = [sys.executable, "-m", "asyncgen", "generate", "--pipeline", "interaction",
           "--n", str(n), "--out", str(out), "--config", str(config), "--quiet"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return config, records


def _audit(config: Path, records: list[dict[str, object]]) -> None:
    settings = load_config(config, environ={}, env_file=None)
    problems = {r["id"]: audit_record(r, settings) for r in records}
    assert not {k: v for k, v in problems.items() if v}


def test_semantic_noise_run_matches_its_config(tmp_path: Path) -> None:
    """A semantic-distractor run: every record valid and its noise metadata as configured."""
    config, records = _generate(
        tmp_path,
        30,
        "distractor:\n  use_semantic: true\n  noise_probability: 0.6\n"
        "  apply_to: [initial_query, followups]\n  num_noisy_versions: 2\n"
        "  layer_weights: {surface_noise: 0.0, incomplete_information: 1.0,\n"
        "                  semantic_ambiguity: 1.0}\n"
        "interaction_generation:\n  min_turns: 1\n  max_turns: 3\n",
    )
    assert len(records) == 30
    _audit(config, records)
    training = tmp_path / "run" / "training_data"  # the last stage, in the run by default
    assert json.loads((training / "train_samples.json").read_text())
    assert json.loads((training / "statistics.json").read_text())["total_samples"] >= 30
    types = Counter(
        m["metadata"]["noise_type"]  # type: ignore[index]
        for r in records
        for m in r["messages"]  # type: ignore[attr-defined]
        if m["metadata"].get("was_noised")
    )
    assert types and set(types) <= {"incomplete_information", "semantic_ambiguity"}


@pytest.mark.slow
def test_five_hundred_interactions_respect_the_config(tmp_path: Path) -> None:
    """The issue's done-check: 500 interactions, valid turns, roles, one model, noise as set."""
    config, records = _generate(tmp_path, 500)
    assert len(records) == 500 and len({r["id"] for r in records}) == 500
    _audit(config, records)
    turns = Counter(r["num_turns"] for r in records)
    assert set(turns) <= set(range(2, 6)) and len(turns) >= 3
    ends = Counter(r["metadata"]["end_reason"] for r in records)  # type: ignore[index]
    assert {"satisfied", "no_follow_up", "target_reached"} <= set(ends)
    assert all(r.get("simulated") is True for r in records)


@pytest.mark.slow
def _wait_for_lines(path: Path, lines: int, proc: subprocess.Popen[bytes]) -> None:
    """Poll until `path` holds `lines` complete lines (the run got that far)."""
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= lines:
            return
        assert proc.poll() is None, f"the run ended before {path.name} had {lines} lines"
        time.sleep(0.02)
    raise AssertionError(f"{path.name} never reached {lines} lines")


def test_sigkill_during_stages_and_conversations_then_rerun(tmp_path: Path) -> None:
    """Killed mid-stage and mid-run, reruns finish with exactly n valid, unique records."""
    import signal

    config = tmp_path / "config.yaml"
    config.write_text("sim:\n  latency_median: 0.03\n  latency_sigma: 0.0\n")
    out = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    cmd = [sys.executable, "-m", "asyncgen", "generate", "--pipeline", "interaction",
           "--n", "150", "--out", str(out), "--config", str(config), "--quiet"]  # fmt: skip
    # Kill on observed progress, not on a timer (a loaded machine would shift the moment):
    # first once the query stage has written some queries, then once some records exist.
    for path, lines in ((out / "queries.jsonl", 3), (out / "records.jsonl", 5)):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for_lines(path, lines, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    personas = (out / "personas.jsonl").read_text()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 150 and len({r["id"] for r in records}) == 150
    _audit(config, records)
    assert (out / "personas.jsonl").read_text() == personas
    assert json.loads((out / "summary.json").read_text())["status"] == "complete"
