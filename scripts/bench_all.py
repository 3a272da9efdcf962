"""Run every benchmark script in its quick form, one after another (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = (
    "bench_sim.py",
    "bench_transport.py",
    "bench_engine.py",
    "bench_dedup.py",
    "bench_export.py",
    "bench_limits.py",
)


def main() -> int:
    """Run each script with --quick; report which failed."""
    here = Path(__file__).resolve().parent
    failed = []
    for name in SCRIPTS:
        script = here / name
        if not script.exists():
            print(f"-- {name}: missing, skipped")
            continue
        print(f"== {name}", flush=True)
        if subprocess.call([sys.executable, str(script), "--quick"]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
