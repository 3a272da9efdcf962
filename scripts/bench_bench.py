"""How fast and how close `asyncgen bench find-limit` gets, per rate-limit algorithm and dialect.

Each case starts the simulator (a child process, real time, lognormal latency median
0.3 s, sigma 0.5) with one algorithm or provider profile and a limit, runs find-limit
with the default settings, and prints the true limit, what was found, the error, the
binding dimension, the steps and the wall time.

    .venv/bin/python scripts/bench_bench.py            # every case at 600 and 6,000 RPM
    .venv/bin/python scripts/bench_bench.py --quick    # bucket, rolling 1 s at 600; bucket at 6,000
    .venv/bin/python scripts/bench_bench.py --only rolling --rpm 600
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from asyncgen.bench import Target, run_bench
from asyncgen.config import load_config
from asyncgen.sim.embedded import start_simulator

LATENCY = {"latency_median": 0.3, "latency_sigma": 0.5}
# name → (simulator settings without the limit, which limit the case sets)
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "token_bucket": ({"limiter": "token_bucket"}, "rpm"),
    "rolling_1s": ({"limiter": "rolling", "sub_window": 1.0}, "rpm"),
    "rolling_10s": ({"limiter": "rolling", "sub_window": 10.0}, "rpm"),
    "fixed_minute": ({"limiter": "fixed_minute"}, "rpm"),
    "fixed_10s": ({"limiter": "fixed_10s"}, "rpm"),
    "gcra": ({"limiter": "gcra"}, "rpm"),
    "tpm_bound": ({"limiter": "token_bucket"}, "tpm"),
    "profile_azure": ({"profile": "azure"}, "rpm"),
    "profile_anthropic": ({"profile": "anthropic"}, "rpm"),
    "profile_openrouter": ({"profile": "openrouter"}, "rpm"),
    "profile_together": ({"profile": "together"}, "rpm"),
    "profile_vllm_no_headers": ({"profile": "vllm"}, "rpm"),
}
QUICK = [("token_bucket", 600), ("rolling_1s", 600), ("token_bucket", 6000)]
TOKENS_PER_REQUEST = 100  # the default fixed workload reserves about this many


async def _case(name: str, rpm: int, out: Path) -> dict[str, Any]:
    sim, dimension = CASES[name]
    settings: dict[str, Any] = {**LATENCY, **sim}
    truth = float(rpm)
    if dimension == "tpm":
        settings["tpm"] = rpm * TOKENS_PER_REQUEST
        truth = settings["tpm"]
    else:
        settings["rpm"] = rpm
    cfg = load_config(None, {}, environ={}, env_file=None)
    async with start_simulator(**settings) as running:
        target = Target(running.base_url, "sim-model", running.api_key)
        t = time.monotonic()
        result = await run_bench(
            cfg, "find-limit", target, out, console=Console(file=io.StringIO())
        )
        wall = time.monotonic() - t
    s = result.summary
    found = s.get("sustainable_tpm_reserved") if dimension == "tpm" else s.get("sustainable_rpm")
    return {
        "case": name,
        "limit": f"{'TPM' if dimension == 'tpm' else 'RPM'} {truth:,.0f}",
        "found": found,
        "error": None if not found else found / truth - 1,
        "binding": s.get("binding_dimension"),
        "steps": len(result.steps),
        "seconds": wall,
        "method": s.get("method"),
    }


async def main(quick: bool, only: str | None, rpms: list[int]) -> int:
    """Run the cases one after another (never two simulators at once) and print the table."""
    if quick:
        plan = QUICK
    else:
        names = [n for n in CASES if only is None or only in n]
        plan = [(n, r) for r in rpms for n in names]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, rpm) in enumerate(plan):
            row = await _case(name, rpm, Path(tmp) / str(i))
            rows.append(row)
            err = "–" if row["error"] is None else f"{row['error']:+.1%}"
            print(
                f"{row['case']:<26} {row['limit']:>14} found {row['found'] or 0:>12,.0f} "
                f"err {err:>7}  {row['binding'] or '–':<17} {row['steps']:>3} steps "
                f"{row['seconds']:>6.1f} s",
                flush=True,
            )
    worst = max((abs(r["error"]) for r in rows if r["error"] is not None), default=0.0)
    slowest = max(r["seconds"] for r in rows)
    print(f"worst error {worst:.1%}, slowest {slowest:.0f} s over {len(rows)} cases")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three cases (make bench)")
    parser.add_argument("--only", help="only cases whose name contains this")
    parser.add_argument("--rpm", type=int, action="append", help="limits to run (600, 6000)")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.quick, args.only, args.rpm or [600, 6000])))
