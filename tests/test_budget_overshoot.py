"""--max-cost/--max-tokens hold at the transport: a request that would pass them is not sent.

Before, the query stage sent a persona's style transfers all at once and checked the
budget only between personas: `--n 2000 --max-cost 0.01` spent $0.092. Now the overshoot
is what requests already in flight cost beyond their projection.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
from engine_support import cli, subprocess_env

CONCURRENCY = 4


def _run(out: Path, *budget: str, n: int) -> tuple[dict, list[dict]]:  # type: ignore[type-arg]
    args = ("generate", "--n", str(n), "--out", str(out), "--no-dedup", "--quiet",
            "--concurrency", str(CONCURRENCY), *budget)  # fmt: skip
    done = subprocess.run(cli(*args), env=subprocess_env(), capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    summary = orjson.loads((out / "summary.json").read_bytes())
    lines = [orjson.loads(x) for x in (out / "ledger.jsonl").read_bytes().splitlines() if x]
    return summary, lines


def _slack(lines: list[dict], field: str) -> float:  # type: ignore[type-arg]
    """Concurrency x the dearest request: the most that requests in flight can add."""
    return CONCURRENCY * max(line[field] for line in lines)


def test_query_stage_stops_at_the_cost_budget(tmp_path: Path) -> None:
    summary, lines = _run(tmp_path / "run", "--max-cost", "0.01", n=2000)
    spent = sum(line["usd"] for line in lines)
    assert 0.005 < spent <= 0.01 + _slack(lines, "usd")  # was $0.092
    assert summary["status"] == "budget" and summary["short_reason"] == "budget"
    assert (
        summary["cost_usd_total"] == round(spent, 6)
        or abs(summary["cost_usd_total"] - spent) < 1e-5
    )
    stages = orjson.loads((tmp_path / "run" / "stages.json").read_bytes())
    assert stages["budget_skipped"] > 0
    assert any("budget_exhausted" in e for e in stages["errors"])


def test_conversation_stage_stops_at_the_cost_budget(tmp_path: Path) -> None:
    summary, lines = _run(tmp_path / "run", "--max-cost", "0.006", n=20)
    spent = sum(line["usd"] for line in lines)
    assert any(line["kind"] == "assistant" for line in lines)  # conversations started
    assert spent <= 0.006 + _slack(lines, "usd")
    assert summary["status"] == "budget" and summary["done"] < 20


def test_token_budget_holds_the_same_way(tmp_path: Path) -> None:
    summary, lines = _run(tmp_path / "run", "--max-tokens", "30000", n=20)
    used = sum(line["in"] + line["out"] for line in lines)
    for line in lines:
        line["tokens"] = line["in"] + line["out"]
    assert 20000 < used <= 30000 + _slack(lines, "tokens")
    assert summary["status"] == "budget" and summary["done"] < 20
