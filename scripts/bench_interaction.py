"""Interaction pipeline benchmark: a real `asyncgen generate --pipeline interaction` run.

Each scenario runs the CLI in a child process against the built-in simulator and reads
summary.json and records.jsonl:

- zero latency: how fast the whole pipeline (stages, loop, noise, dedup, writers) goes
  when the endpoint costs nothing;
- fixed latency L per call with W conversations: every conversation is a chain of
  calls (answers, user-model turns); the ideal is the makespan of the realised
  conversations (their call counts × L) scheduled in plan order on W slots, tail
  included; the ratio to it is what the engine, transport and pipeline cost.
  Stage calls (query writing, style transfer) run before the timed part (`run s`, the
  engine's wall time); `process s` is the whole command, simulator start included.

    .venv/bin/python scripts/bench_interaction.py           # n=500
    .venv/bin/python scripts/bench_interaction.py --quick   # n=200
"""

from __future__ import annotations

import argparse
import heapq
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Scenario:
    """One run's settings."""

    name: str
    latency: float
    workers: int
    dedup: bool = True
    adaptive: bool = True


@dataclass
class Result:
    """One run's figures."""

    scenario: Scenario
    n: int
    process_s: float
    run_s: float
    chain_calls: int
    ideal_s: float
    lag_p99_ms: float
    turns: Counter[int]
    ends: Counter[str]


def run(scenario: Scenario, n: int, root: Path) -> Result:
    """Run the CLI once and collect its figures."""
    out = root / scenario.name.replace(" ", "_")
    config = root / f"{out.name}.yaml"
    config.write_text(
        f"sim:\n  latency_median: {scenario.latency}\n  latency_sigma: 0.0\n"
        f"engine:\n  max_workers: {scenario.workers}\n"
        f"dedup:\n  enabled: {str(scenario.dedup).lower()}\n"
        f"llm:\n  limits:\n    adaptive: {str(scenario.adaptive).lower()}\n"
    )
    cmd = [sys.executable, "-m", "asyncgen", "generate", "--pipeline", "interaction",
           "--n", str(n), "--out", str(out), "--config", str(config), "--quiet"]  # fmt: skip
    start = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    process_s = time.monotonic() - start
    summary = json.loads((out / "summary.json").read_text())
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return Result(
        scenario,
        summary["done"],
        process_s,
        summary["wall_time_s"],
        sum(chain_calls(r) for r in records),
        ideal_makespan(records, scenario.workers, scenario.latency),
        summary["loop_lag"]["p99_ms"],
        Counter(r["num_turns"] for r in records),
        Counter(r["metadata"]["end_reason"] for r in records),
    )


def chain_calls(record: dict[str, object]) -> int:
    """Sequential calls of one conversation: answers, follow-ups, and a final "satisfied"."""
    turns = int(record["num_turns"])  # type: ignore[call-overload]
    meta = record["metadata"]
    satisfied = isinstance(meta, dict) and meta.get("end_reason") == "satisfied"
    return 2 * turns - 1 + int(satisfied)


def ideal_makespan(records: list[dict[str, object]], workers: int, latency: float) -> float:
    """Seconds a perfect engine needs: conversations in plan order on `workers` slots."""
    slots = [0.0] * workers
    for record in sorted(records, key=lambda r: str(r["id"])):
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + chain_calls(record) * latency)
    return max(slots)


def table(results: list[Result]) -> str:
    """A markdown table with the ratio to the latency-bound ideal."""
    lines = [
        "| scenario | records | run s | process s | rec/s | calls/rec | ideal rec/s | ratio "
        "| lag p99 ms | turns 2/3/4/5 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        rate = r.n / r.run_s
        calls = r.chain_calls / r.n
        ideal = r.n / r.ideal_s if r.ideal_s else None
        turns = "/".join(str(r.turns.get(t, 0)) for t in range(2, 6))
        lines.append(
            f"| {r.scenario.name} | {r.n} | {r.run_s:.1f} | {r.process_s:.1f} | {rate:.0f} "
            f"| {calls:.2f} | {f'{ideal:.0f}' if ideal else '—'} "
            f"| {f'{rate / ideal:.2f}×' if ideal else '—'} | {r.lag_p99_ms:.0f} | {turns} |"
        )
    return "\n".join(lines)


def main() -> int:
    """Run the scenarios and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="n=200 instead of 500")
    parser.add_argument("--n", type=int, default=None)
    args = parser.parse_args()
    n = args.n or (200 if args.quick else 500)
    scenarios = [
        Scenario("zero latency, 64 workers", 0.0, 64),
        Scenario("0.2 s latency, 64 workers", 0.2, 64),
        Scenario("0.2 s latency, 16 workers", 0.2, 16),
        Scenario("0.2 s latency, 64 workers, no AIMD", 0.2, 64, adaptive=False),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-interaction-") as tmp:
        results = [run(s, n, Path(tmp)) for s in scenarios]
    print(table(results))
    ends = sum((r.ends for r in results), Counter())
    print(f"\nend reasons over all runs: {dict(ends)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
