"""How close `asyncgen bench` gets to limits it cannot see: find-limit vs the simulator's
--rpm / --tpm, and the concurrency sweep vs its --max-concurrency (overload reject).

    .venv/bin/python scripts/bench_limits.py            # full: 3 RPM, 1 TPM, 2 concurrency cases
    .venv/bin/python scripts/bench_limits.py --quick    # one of each kind

Prints one row per case with the true limit, what bench found, and their ratio.
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

STEP = {"step_seconds": 2.0, "warmup_seconds": 0.3, "cooldown_seconds": 1.0, "drain_seconds": 5.0}


async def _case(profile: str, sim: dict[str, Any], bench: dict[str, Any], out: Path) -> Any:
    overrides = {f"bench.{k}": v for k, v in {**STEP, **bench}.items()}
    cfg = load_config(None, overrides, environ={}, env_file=None)
    async with start_simulator(**sim) as running:
        target = Target(running.base_url, "sim-model", running.api_key)
        quiet = Console(file=io.StringIO())
        return await run_bench(cfg, profile, target, out, console=quiet)


async def main(quick: bool) -> int:
    """Run each case and print the table."""
    rpms = (600,) if quick else (300, 600, 1200)
    tpms = () if quick else (24000,)
    concurrencies = (6,) if quick else (4, 12)
    rows: list[tuple[str, str, float, float, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for rpm in rpms:
            t = time.monotonic()
            sim = {"rpm": rpm, "latency_median": 0.02}
            r = await _case(
                "find-limit", sim, {"start_rate": rpm / 60 * 0.6}, Path(tmp) / f"r{rpm}"
            )
            found = r.summary["sustainable_rpm"]
            rows.append(
                ("find-limit RPM", f"--rpm {rpm}", rpm, found, len(r.steps), time.monotonic() - t)
            )
        for tpm in tpms:
            t = time.monotonic()
            sim = {"tpm": tpm, "latency_median": 0.02}
            r = await _case(
                "find-limit", sim, {"start_rate": 2.0, "ramp_factor": 1.3}, Path(tmp) / f"t{tpm}"
            )
            found = r.summary["sustainable_tpm_reserved"]
            rows.append(
                ("find-limit TPM", f"--tpm {tpm}", tpm, found, len(r.steps), time.monotonic() - t)
            )
        for conc in concurrencies:
            t = time.monotonic()
            sim = {"max_concurrency": conc, "overload": "reject", "latency_median": 0.1}
            r = await _case("sweep", sim, {"step_seconds": 1.5}, Path(tmp) / f"c{conc}")
            found = r.summary["max_clean_concurrency"] or 0
            rows.append(
                (
                    "sweep concurrency",
                    f"--max-concurrency {conc}",
                    conc,
                    found,
                    len(r.steps),
                    time.monotonic() - t,
                )
            )
    head = ("case", "simulator", "true", "found", "ratio", "steps", "secs")
    print("{:<18} {:<22} {:>8} {:>9} {:>6} {:>5} {:>5}".format(*head))
    for name, flag, true, found, steps, secs in rows:
        ratio = found / true
        cells = (name, flag, true, found, ratio, steps, secs)
        print("{:<18} {:<22} {:>8.0f} {:>9.0f} {:>6.3f} {:>5} {:>5.0f}".format(*cells))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one case of each kind")
    sys.exit(asyncio.run(main(parser.parse_args().quick)))
