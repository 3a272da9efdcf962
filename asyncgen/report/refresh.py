"""`python -m asyncgen.report.refresh RUN_DIR [--live] [--embed] [--sample-size N]`.

The child process `LiveReport` starts: the report pass is pure Python, and in a thread
of the generating process it would hold the GIL against the run's event loop (and add
its memory to the run's). Exit 0 when the files were written, 1 with one line on stderr
when they were not.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from asyncgen.errors import AsyncgenError


def main(argv: list[str] | None = None) -> int:
    """Write RUN_DIR/report.html and report.json once."""
    parser = argparse.ArgumentParser(prog="python -m asyncgen.report.refresh")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--live", action="store_true", help="the run is still writing")
    parser.add_argument("--embed", action="store_true", help="measure NN similarity")
    parser.add_argument("--sample-size", type=int, default=2000)
    args = parser.parse_args(argv)
    from asyncgen.report.write import write_report

    try:
        asyncio.run(
            write_report(
                args.run_dir, sample_size=args.sample_size, embed=args.embed, live=args.live
            )
        )
    except (AsyncgenError, OSError) as exc:
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
