"""Export benchmark: peak memory and throughput of `asyncgen export` at two run sizes.

Each export runs in a fresh child process so its peak RSS (ru_maxrss) is its own; the
baseline is the child's RSS after importing asyncgen.export, pyarrow and datasets.
Flat memory means the large run's peak stays within ~20% of the small run's.

    .venv/bin/python scripts/bench_export.py            # 10,000 vs 100,000 records
    .venv/bin/python scripts/bench_export.py --quick    # 2,000 vs 20,000 records
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asyncgen.export.synthetic import write_synthetic_run

CHILD = """
import json, resource, sys, time
from pathlib import Path
import datasets, pyarrow
from asyncgen.export import ExportOptions, export_run
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
run, out, formats, turns = sys.argv[1], sys.argv[2], sys.argv[3].split(","), sys.argv[4]
start = time.perf_counter()
options = ExportOptions(out_dir=Path(out), formats=tuple(formats), user_turns=turns)
result = export_run(Path(run), options)
wall = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kb": base, "peak_kb": peak, "wall": wall,
                  "samples": result.statistics["total_samples"],
                  "realised": result.statistics["split"]["realised_ratios"]}))
"""


def measure(run: Path, out: Path, formats: str, user_turns: str) -> dict[str, float]:
    """Export `run` in a child process; returns its peak RSS, baseline and wall time."""
    cmd = [sys.executable, "-c", CHILD, str(run), str(out), formats, user_turns]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    """Run the sizes and kinds asked for and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2k vs 20k records")
    parser.add_argument("--sizes", default=None, help="comma-separated record counts")
    parser.add_argument("--kinds", default="interaction,dialogue", help="interaction,dialogue")
    parser.add_argument("--formats", default="json,jsonl,openai,sharegpt,parquet,hf")
    parser.add_argument("--user-turns", default="clean", choices=("clean", "noisy", "both"))
    parser.add_argument("--personas", type=int, default=500)
    args = parser.parse_args()
    sizes = [
        int(s) for s in (args.sizes or ("2000,20000" if args.quick else "10000,100000")).split(",")
    ]
    print(f"formats={args.formats} user_turns={args.user_turns} personas={args.personas}")
    header = f"{'kind':<12}{'records':>9}{'samples':>9}{'wall s':>8}{'rec/s':>8}"
    header += f"{'base MB':>9}{'peak MB':>9}{'peak/small':>11}{'(peak-base)/small':>19}"
    print(header)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            first: dict[str, float] | None = None
            for n in sizes:
                run = Path(tmp) / f"{kind}-{n}"
                write_synthetic_run(run, n, kind=kind, personas=args.personas)
                row = measure(run, Path(tmp) / f"out-{kind}-{n}", args.formats, args.user_turns)
                first = first or row
                base, peak = row["base_kb"] / 1024, row["peak_kb"] / 1024
                grow = (row["peak_kb"] - row["base_kb"]) / max(
                    first["peak_kb"] - first["base_kb"], 1
                )
                print(
                    f"{kind:<12}{n:>9}{int(row['samples']):>9}{row['wall']:>8.1f}"
                    f"{n / row['wall']:>8.0f}{base:>9.0f}{peak:>9.0f}"
                    f"{row['peak_kb'] / first['peak_kb']:>11.2f}{grow:>19.2f}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"total {time.perf_counter() - start:.0f} s")
    sys.exit(code)
