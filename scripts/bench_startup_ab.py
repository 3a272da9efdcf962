"""The start-up line of `bench_transport.py` for two or more source trees, run in turns.

    mkdir /tmp/before && git archive 85fed52 | tar -x -C /tmp/before
    .venv/bin/python scripts/bench_startup_ab.py --rounds 10 /tmp/before .

Each run is `TREE/scripts/bench_transport.py --only startup` with PYTHONPATH=TREE (it
compiles that tree's bytecode first and reports the median of 5 starts of `asyncgen
complete`: wall and CPU to the first request). The trees take turns, the order reversed
every round (A B, B A, ...), so a change of load on this shared machine falls on both
alike; the figures of one start-up are ~10 % noisy at a steady load and move far more
with it. Prints every run with the 1-minute load average, then each tree's medians.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

LINE = re.compile(
    r"first request: ([\d.]+) s .*CPU until then ([\d.]+) s; "
    r"CPU of the whole one-request run ([\d.]+)"
)


def one_run(tree: Path) -> tuple[float, float]:
    """Wall and CPU seconds to the first request (medians of 5) of `tree`'s code."""
    out = subprocess.run(
        [sys.executable, str(tree / "scripts" / "bench_transport.py"), "--only", "startup"],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    ).stdout
    found = LINE.search(out)
    if found is None:
        raise SystemExit(f"{tree}: no start-up line in\n{out[-2000:]}")
    return float(found[1]), float(found[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="+", type=Path)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    trees = [tree.resolve() for tree in args.trees]
    runs: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in trees}
    for number in range(args.rounds):
        for tree in trees if number % 2 == 0 else trees[::-1]:
            load = os.getloadavg()[0]
            wall, cpu = one_run(tree)
            runs[tree].append((wall, cpu))
            print(f"{tree}  wall {wall:.3f} s  CPU {cpu:.3f} s  load {load:.2f}", flush=True)
    for tree, figures in runs.items():
        walls = [wall for wall, _ in figures]
        cpus = [cpu for _, cpu in figures]
        print(
            f"{tree}: wall median {statistics.median(walls):.3f} s (min {min(walls):.3f}), "
            f"CPU median {statistics.median(cpus):.3f} s (min {min(cpus):.3f}), "
            f"{len(figures)} runs"
        )


if __name__ == "__main__":
    main()
