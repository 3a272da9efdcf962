"""A cost budget is never silently void: a model without a price is refused before any write."""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest
from engine_support import cli, subprocess_env

from asyncgen.config import load_config
from asyncgen.engine.budget import apply_prices, check_budget_prices, models_in_use
from asyncgen.errors import ConfigError


def test_max_cost_with_an_unpriced_model_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    """Exit 2, one line naming the model and both ways to price it; no run directory."""
    out = tmp_path / "run"
    args = (
        "generate",
        "--n",
        "5",
        "--out",
        str(out),
        "--model",
        "mystery-1",
        "--max-cost",
        "0.001",
    )
    done = subprocess.run(cli(*args), env=subprocess_env(), capture_output=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "'mystery-1'" in lines[0] and "--price-in" in lines[0] and "llm.prices" in lines[0]
    assert not out.exists()


def test_a_budget_below_the_first_call_says_so(tmp_path: Path) -> None:
    """Nothing is sent past the budget, so a budget under one query call produces nothing."""
    out = tmp_path / "run"
    args = ("generate", "--n", "5", "--out", str(out), "--max-cost", "0.00001", "--quiet")
    done = subprocess.run(cli(*args), env=subprocess_env(), capture_output=True, timeout=60)
    assert done.returncode == 2
    assert "does not cover the first query call" in done.stderr.decode()
    assert not (out / "ledger.jsonl").read_bytes().strip()  # not one request sent


def test_price_flags_make_the_budget_bite(tmp_path: Path) -> None:
    """With --price-in/--price-out the same run is priced and stops on its budget."""
    out = tmp_path / "run"
    args = (
        "generate", "--n", "20", "--out", str(out), "--model", "mystery-1", "--no-dedup",
        "--max-cost", "0.07", "--price-in", "1", "--price-out", "4", "--quiet",
    )  # fmt: skip
    done = subprocess.run(cli(*args), env=subprocess_env(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["status"] == "budget" and 0.05 < summary["cost_usd_total"] <= 0.075
    assert summary["done"] < 20
    # the budget is the run's: a rerun (as after a kill) does not get a fresh one
    again = subprocess.run(cli(*args), env=subprocess_env(), capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    resumed = orjson.loads((out / "summary.json").read_bytes())
    assert resumed["status"] == "budget" and resumed["cost_usd_total"] <= 0.075
    assert resumed["done"] == summary["done"]


def test_config_prices_and_the_models_checked() -> None:
    """Every model the pipeline may call is checked; a config price (by tail) satisfies it."""
    config = load_config(
        None,
        {
            "llm.max_cost": 1.0,
            "llm.model": "vendor/alpha",
            "interaction_generation.user_model.model": "beta",
        },
    )
    assert {"vendor/alpha", "beta"} <= set(models_in_use(config))
    with pytest.raises(ConfigError, match="'vendor/alpha', 'beta'"):
        check_budget_prices(config)
    config.llm.prices["alpha"] = config.llm.prices["gpt-4o-mini"]
    with pytest.raises(ConfigError, match="'beta'"):
        check_budget_prices(config)
    apply_prices(config, 0.1, 0.2)
    check_budget_prices(config)
    with pytest.raises(ConfigError, match="both"):
        apply_prices(config, 0.1, None)
