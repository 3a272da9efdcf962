"""Run every benchmark script in its quick form, one after another (`make bench`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# script → the arguments of its quick form
SCRIPTS: dict[str, list[str]] = {
    "bench_sim.py": ["--quick"],
    "bench_transport.py": ["--quick"],
    "bench_engine.py": ["--quick"],
    "bench_interaction.py": ["--quick"],
    "bench_dialogue_mix.py": ["--plan", "5000", "--e2e", "500"],
    "bench_dedup.py": ["--quick"],
    "bench_export.py": ["--quick"],
    "bench_limits.py": ["--quick"],
    "bench_bench.py": ["--quick"],
}


def main() -> int:
    """Run each script in its quick form; report which failed."""
    here = Path(__file__).resolve().parent
    failed = []
    for name, args in SCRIPTS.items():
        script = here / name
        if not script.exists():
            print(f"-- {name}: missing, skipped")
            continue
        print(f"== {name}", flush=True)
        if subprocess.call([sys.executable, str(script), *args]) != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
