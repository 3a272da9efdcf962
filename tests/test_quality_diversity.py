"""The diversity watch: window figures in metrics.jsonl, a warning when they collapse."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from asyncgen.config import load_config
from asyncgen.engine import RunOptions, run_generation
from asyncgen.interaction import InteractionPipeline
from asyncgen.llm import Transport
from asyncgen.quality.diversity import window_figures
from asyncgen.sim.embedded import start_simulator


async def _run(run_dir: Path, duplicate_rate: float) -> dict[str, Any]:
    async with start_simulator(duplicate_rate=duplicate_rate) as sim:
        values = {
            "llm.base_url": sim.base_url,
            "engine.n": 250,
            "engine.metrics_interval": 0.2,
            "interaction_generation.retry_delay": 0,
            "interaction_generation.export_training_data": False,
            "dedup.enabled": False,
        }
        config = load_config(overrides=values, environ={}, env_file=None)
        async with Transport.from_settings(config.llm, api_key=None, base_url=sim.base_url) as c:
            await run_generation(
                config,
                InteractionPipeline(config),
                run_dir=run_dir,
                client=c,
                options=RunOptions(quiet=True, is_simulated=True),
            )
    return dict(json.loads((run_dir / "summary.json").read_text()))


def _windows(run_dir: Path) -> list[dict[str, Any]]:
    lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x]
    return [line["diversity"] for line in lines if line.get("diversity")]


async def test_a_collapsing_model_is_flagged_with_the_window_figures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """90 % repeated answers: distinct-2 falls under the bound; metrics and log say so."""
    caplog.set_level(logging.WARNING, logger="asyncgen.quality")
    summary = await _run(tmp_path / "collapse", 0.9)
    windows = _windows(tmp_path / "collapse")
    flagged = [w for w in windows if w.get("warning")]
    assert flagged and flagged[-1]["distinct_2"] < 0.1 and flagged[-1]["window"] == 200
    assert summary["diversity"]["warnings"] >= 1
    assert any("possible mode collapse" in r.getMessage() for r in caplog.records)


async def test_a_healthy_run_carries_figures_and_no_warning(tmp_path: Path) -> None:
    summary = await _run(tmp_path / "healthy", 0.0)
    windows = _windows(tmp_path / "healthy")
    assert windows and not any(w.get("warning") for w in windows)
    last = windows[-1]
    assert last["records_seen"] == 250 and last["distinct_2"] > 0.15
    assert 0 < last["nn_similarity_mean"] < 0.8
    assert summary["diversity"] == {"latest": last, "warnings": 0}


def test_window_figures_measure_repetition() -> None:
    varied = [f"user {i} asks about topic {i * 7} and item {i * 13}" for i in range(50)]
    same = ["the very same conversation every time, word for word"] * 50
    fresh, stale = window_figures(varied), window_figures(same)
    assert fresh["distinct_2"] > 0.5 > stale["distinct_2"]
    assert stale["nn_similarity_mean"] == pytest.approx(1.0, abs=1e-3)
    assert fresh["nn_similarity_mean"] < 0.9


async def test_the_window_holds_little_memory_once_featurised() -> None:
    """100 records of ~450 words (the 4,000 characters read): the window keeps ~5 KB of
    arrays per record, not its text and a set of bigram tuples (~58 KB per simulator
    dialogue, 11.7 MB for the window in a batch run, churned as it moved)."""
    import random
    import tracemalloc

    from asyncgen.config.quality import DiversitySettings
    from asyncgen.quality import diversity
    from asyncgen.quality.diversity import DiversityWatch

    rng = random.Random(7)
    vocabulary = [f"word{i}" for i in range(3000)]

    def record() -> dict[str, Any]:
        return {
            "messages": [
                {"role": role, "content": " ".join(rng.choices(vocabulary, k=60))}
                for role in ("user", "assistant") * 5
            ]
        }

    window_figures(["numpy is loaded", "before the count starts"])
    tracemalloc.start(12)
    try:
        watch = DiversityWatch(DiversitySettings(window=100, min_records=10))
        for _ in range(100):
            watch.add(record())
        figures = await watch.refresh()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # what is still allocated from the watch's code (its thread included), nothing else's
    mine = snapshot.filter_traces([tracemalloc.Filter(True, diversity.__file__, all_frames=True)])
    held = sum(stat.size for stat in mine.statistics("filename"))
    assert figures is not None and figures["distinct_2"] > 0.5
    assert held < 1_000_000, held  # ~0.55 MB; with tuples and texts it was ~10 MB
