"""Batch mode against online mode on the simulator: cost, wall time per round, memory.

    .venv/bin/python scripts/bench_batch.py                  # n=10,000 (+ RSS at 100,000)
    .venv/bin/python scripts/bench_batch.py --quick          # n=1,000, RSS at 10,000
    .venv/bin/python scripts/bench_batch.py --round-time 60 --rss-round-time 5

One simulator process serves every run (`--base-url`), so each `asyncgen generate` child
is only the client and its peak RSS (from `wait4`) is the client's. Runs:

1. online, `--pipeline dialogue --n N --seed S --model gpt-4o-mini`;
2. the same with `--mode batch` and the simulator's batch round time `--round-time`;
3. batch at n=N and n=`--rss-n` with `--rss-round-time` (memory does not depend on it).

Checks printed at the end: ledger cost batch/online = 0.5 with equal tokens; wall time
within 10 % of rounds × round time; batches == rounds (no limit splits a round at these
sizes); peak RSS at `--rss-n` within 10 % of the peak at N (live conversations are capped
at `llm.batch.max_live`, so memory follows that cap, not n).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from asyncgen.sim import SimulatorProcess
from asyncgen.store.ledger import read_ledger

CONFIG = """
llm:
  batch:
    max_live: {max_live}
    poll_initial: 0.2
    poll_max: 5.0
    poll_share: 0.01          # a poll overshoots a round's end by at most 1 %
    idle_flush_seconds: 0.5
dedup:
  enabled: false
dialogue:
  allow_base_reuse: true      # the packaged sample holds 50 base dialogues
engine:
  metrics_interval: 5.0
report:
  refresh_during_run: false   # the live report re-reads every record (not batch mode's memory)
"""


def run(out: Path, config: Path, base_url: str, n: int, seed: int, mode: str) -> dict[str, Any]:
    """One `asyncgen generate` child; its summary, ledger totals, wall time and peak RSS."""
    cmd = [
        sys.executable, "-m", "asyncgen", "generate", "--pipeline", "dialogue",
        "--n", str(n), "--seed", str(seed), "--out", str(out), "--config", str(config),
        "--base-url", base_url, "--model", "gpt-4o-mini", "--mode", mode, "--quiet",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    sampler = RssSampler(proc.pid, out / "summary.json")
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    sampler.join()
    err = proc.stderr.read().decode(errors="replace")
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} n={n} failed:\n{err[-2000:]}")
    summary = orjson.loads((out / "summary.json").read_bytes())
    ledger = read_ledger(out)
    assert ledger is not None
    return {
        "mode": mode,
        "n": n,
        "done": summary["done"],
        "command_s": round(wall, 1),
        "engine_s": round(summary["wall_time_s"], 1),
        "rss_mb": round(usage.ru_maxrss / 1024, 1),
        "run_rss_mb": round(sampler.peak_kb / 1024, 1),
        "rss_by_tenth_mb": by_tenth(sampler.samples),
        "tokens_in": ledger.total.tokens_in,
        "tokens_out": ledger.total.tokens_out,
        "cost_usd": ledger.total.cost_usd,
        "batch": summary.get("batch") or {},
        "phases": phases(out) if mode == "batch" else [],
    }


PHASES = (  # (name, from, to) in each part's recorded wall-clock times
    ("gather", "gathered_from", "flushed_at"),  # first request of the round → flush
    ("seal", "flushed_at", "written_at"),  # the part file's last write and fsync
    ("upload+create", "written_at", "created_at"),
    ("batch", "created_at", "seen_ended_at"),  # the provider's round, and the poll's overshoot
    ("download", "seen_ended_at", "finished_at"),
    ("resolve", "finished_at", "charged_at"),  # read, charge and answer line by line
)


def phases(out: Path) -> list[dict[str, float]]:
    """Seconds of each phase of each part, from its recorded state (round order)."""
    rows = []
    for path in sorted((out / "batch" / "parts").glob("*.json")):
        state = orjson.loads(path.read_bytes())
        times = {**state["extra"], "created_at": state["created_at"]}
        times["finished_at"] = state["finished_at"]
        row = {"part": state["name"]}
        for name, start, end in PHASES:
            if times.get(start) is not None and times.get(end) is not None:
                row[name] = round(float(times[end]) - float(times[start]), 3)
        rows.append(row)
    return rows


def by_tenth(samples: list[tuple[float, int]]) -> list[float]:
    """Peak RSS (MB) in each tenth of the run's time: growth vs a plateau."""
    if not samples:
        return []
    end = samples[-1][0] or 1.0
    peaks = [0] * 10
    for at, kb in samples:
        tenth = min(9, int(10 * at / end))
        peaks[tenth] = max(peaks[tenth], kb)
    return [round(kb / 1024) for kb in peaks]


class RssSampler(threading.Thread):
    """The child's resident memory every 0.2 s until its summary.json appears.

    The end of a run (the dialogue pipeline's `generated_dialogues.json`, the index, the
    report) reads every record back, in online mode as much as in batch mode; the peak
    *while generating* is what batch mode's live conversations cost.
    """

    def __init__(self, pid: int, summary: Path) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.summary = summary
        self.peak_kb = 0
        self.samples: list[tuple[float, int]] = []  # (seconds since start, RSS KB)

    def run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        started = time.monotonic()
        while not self.summary.exists():
            try:
                text = status.read_text()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                    self.samples.append((time.monotonic() - started, int(line.split()[1])))
            time.sleep(0.2)


def sim_for(round_time: float) -> SimulatorProcess:
    return SimulatorProcess(batch={"round_time": round_time}).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rss-n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--round-time", type=float, default=60.0)
    parser.add_argument("--rss-round-time", type=float, default=5.0)
    parser.add_argument("--max-live", type=int, default=10_000, help="llm.batch.max_live")
    parser.add_argument("--quick", action="store_true", help="n=1,000, RSS at 10,000")
    parser.add_argument("--skip", default="", help="comma list of: cost, rss")
    args = parser.parse_args()
    if args.quick:
        args.n, args.rss_n, args.round_time = 1_000, 10_000, 10.0
    skip = set(filter(None, args.skip.split(",")))
    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    config = root / "c.yaml"
    config.write_text(CONFIG.format(max_live=args.max_live))
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.1f} (2 cores)", flush=True)
    rows: list[dict[str, Any]] = []
    try:
        if "cost" not in skip:
            sim = sim_for(args.round_time)
            try:
                for mode in ("online", "batch"):
                    rows.append(run(root / mode, config, sim.base_url, args.n, args.seed, mode))
                    print(rows[-1], flush=True)
            finally:
                sim.stop()
        if "rss" not in skip:
            sim = sim_for(args.rss_round_time)
            try:
                for n in (args.n, args.rss_n):
                    rows.append(run(root / f"rss{n}", config, sim.base_url, n, args.seed, "batch"))
                    print(rows[-1], flush=True)
            finally:
                sim.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(rows, args, load)


def report(rows: list[dict[str, Any]], args: argparse.Namespace, load: float) -> None:
    """The checks, one line each, and a markdown table for docs/benchmarks.md."""
    print(f"\nload average at end: {os.getloadavg()[0]:.1f} (start {load:.1f})")
    print("| mode | n | done | command s | engine s | rounds | batches | round s | "
          "tokens in/out | ledger $ | RSS while generating MB | peak RSS MB |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        b = r["batch"]
        print(
            f"| {r['mode']} | {r['n']:,} | {r['done']:,} | {r['command_s']} | {r['engine_s']} | "
            f"{b.get('rounds', '-')} | {b.get('batches', '-')} | {b.get('round_time_s', '-')} | "
            f"{r['tokens_in']:,}/{r['tokens_out']:,} | {r['cost_usd']:.4f} | {r['run_rss_mb']} | "
            f"{r['rss_mb']} |"
        )
    pair = [r for r in rows[:2] if r["n"] == args.n]
    if len(pair) == 2 and "cost" not in args.skip:
        online, batch = pair
        ratio = batch["cost_usd"] / online["cost_usd"]
        same = (online["tokens_in"], online["tokens_out"]) == (
            batch["tokens_in"],
            batch["tokens_out"],
        )
        print(f"cost batch/online = {ratio:.6f} (tokens equal: {same})")
        rounds = batch["batch"]["rounds"]
        ideal = rounds * args.round_time
        print(
            f"engine wall {batch['engine_s']} s vs rounds x round time = {rounds} x "
            f"{args.round_time} = {ideal:.0f} s: {batch['engine_s'] / ideal:.3f}"
        )
        print(f"batches {batch['batch']['batches']} == rounds {rounds}: "
              f"{batch['batch']['batches'] == rounds}")  # fmt: skip
        parts = [", ".join(f"{k} {v}" for k, v in row.items()) for row in batch["phases"]]
        print("per part, seconds: " + "; ".join(parts))
        waited = sum(row.get("batch", 0.0) for row in batch["phases"])
        print(
            f"engine wall - time waiting on batches = {batch['engine_s'] - waited:.1f} s "
            "(the pipeline's work and the batch steps around rounds)"
        )
    rss = [r for r in rows if r["mode"] == "batch" and r["n"] in (args.n, args.rss_n)][-2:]
    if len(rss) == 2 and rss[0]["n"] != rss[1]["n"]:
        for key, what in (("run_rss_mb", "RSS while generating"), ("rss_mb", "peak RSS")):
            small, large = rss[0][key], rss[1][key]
            print(
                f"{what} n={rss[0]['n']:,}: {small} MB, n={rss[1]['n']:,}: {large} MB, "
                f"ratio {large / small:.3f}"
            )
        for r in rss:
            print(f"RSS while generating by tenth of the run, n={r['n']:,}: {r['rss_by_tenth_mb']}")


if __name__ == "__main__":
    main()
