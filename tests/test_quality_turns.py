"""The turn mix asked for: `turn_policy: target` realises the configured weights."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from asyncgen.config import load_config
from asyncgen.engine import RunOptions, run_generation
from asyncgen.errors import ConfigError
from asyncgen.interaction import InteractionPipeline
from asyncgen.interaction.turns import TurnMix
from asyncgen.llm import Transport
from asyncgen.sim.embedded import start_simulator

WEIGHTS = {2: 0.1, 3: 0.2, 4: 0.3, 5: 0.4}


async def _run(run_dir: Path, rate: float, **overrides: Any) -> dict[str, Any]:
    async with start_simulator(persona_contradiction_rate=rate) as sim:
        values = {
            "llm.base_url": sim.base_url,
            "interaction_generation.retry_delay": 0,
            "interaction_generation.export_training_data": False,
            "dedup.enabled": False,
        } | overrides
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


def _turns(run_dir: Path) -> Counter[int]:
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    return Counter(json.loads(line)["num_turns"] for line in lines if line.strip())


async def test_target_policy_realises_the_weights_on_2000_despite_judged_rejects(
    tmp_path: Path,
) -> None:
    """±2 points on 2,000 conversations, while the judge rejects long ones more often."""
    n = 2000
    summary = await _run(
        tmp_path / "run",
        0.1,  # a contradiction per follow-up: long conversations are rejected more
        **{
            "engine.n": n,
            "interaction_generation.turn_policy": "target",
            "interaction_generation.turn_weights": WEIGHTS,
            "quality.judge.enabled": True,
        },
    )
    turns = _turns(tmp_path / "run")
    assert sum(turns.values()) == n and summary["status"] == "complete"
    for count, weight in WEIGHTS.items():
        assert abs(100 * turns[count] / n - 100 * weight) <= 2, (count, turns)
    mix = summary["figures"]["turn_mix"]
    assert mix["policy"] == "target" and mix["records"] == n
    assert mix["realised_pct"] == {str(k): round(100 * v / n, 2) for k, v in sorted(turns.items())}
    assert summary["quality"]["rejected_low_quality"] > 0.1 * n  # the skew was real


async def test_natural_policy_reports_realised_against_target(tmp_path: Path) -> None:
    """The spec's behaviour: the user stops early; the summary says how far from the target."""
    summary = await _run(tmp_path / "run", 0.0, **{"engine.n": 120})
    mix = summary["figures"]["turn_mix"]
    assert mix["policy"] == "natural" and mix["target_pct"] == {str(k): 25.0 for k in range(2, 6)}
    assert mix["realised_pct"]["2"] > 40 and mix["max_gap_points"] > 15
    turns = _turns(tmp_path / "run")
    assert mix["realised_pct"]["2"] == round(100 * turns[2] / 120, 2)


def test_planned_targets_hold_the_weights_over_any_stretch() -> None:
    """The low-discrepancy plan: any 500 consecutive items within a point of each weight."""
    config = load_config(
        overrides={
            "interaction_generation.turn_policy": "target",
            "interaction_generation.turn_weights": WEIGHTS,
        },
        environ={},
        env_file=None,
    )
    mix = TurnMix(config.interaction_generation)
    rng = random.Random(0)
    planned = [mix.planned(7, i, rng) for i in range(3000)]
    for start in (0, 123, 2500):
        window = Counter(planned[start : start + 500])
        for count, weight in WEIGHTS.items():
            assert abs(window[count] / 500 - weight) <= 0.01


def test_choose_moves_an_over_represented_target() -> None:
    config = load_config(
        overrides={"interaction_generation.turn_policy": "target"}, environ={}, env_file=None
    )
    mix = TurnMix(config.interaction_generation)
    for _ in range(40):
        mix.count(5, 2)  # forty conversations aimed at 5 ended at 2
    assert mix.choose(2) == 3 and mix.choose(4) == 4  # the most under-represented, lowest first


def test_turn_weights_outside_the_range_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="outside"):
        load_config(
            overrides={"interaction_generation.turn_weights": {7: 1.0}}, environ={}, env_file=None
        )


def test_the_report_measures_the_turn_mix_against_the_weights() -> None:
    from asyncgen.report.coverage import targets_from_config

    config = {"interaction_generation": {"min_turns": 2, "max_turns": 5, "turn_weights": WEIGHTS}}
    targets = targets_from_config(json.loads(json.dumps(config)), "interaction")
    assert targets["num_turns"] == {"2": 0.1, "3": 0.2, "4": 0.3, "5": 0.4}
