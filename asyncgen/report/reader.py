"""Stream a run directory's JSONL files for the report, on the export's line reader.

Unusable lines are counted and located by `asyncgen.export.reader.ReadReport`, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from asyncgen.export.reader import ReadReport, iter_lines
from asyncgen.store.rundir import FAILURES_FILE, METRICS_FILE, RECORDS_FILE, REJECTED_FILE


def iter_jsonl(path: Path, problems: ReadReport) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSONL file; a missing file yields nothing."""
    if not path.is_file():
        return
    for line in iter_lines(path, problems, strict=False):
        yield line.record


def read_json(path: Path) -> dict[str, Any]:
    """A whole JSON file as a dict, or {} when it is missing or unreadable."""
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def find_records_file(run_dir: Path) -> Path:
    """The records file of a run: records.jsonl, or the one the pipeline named."""
    default = run_dir / RECORDS_FILE
    if default.is_file():
        return default
    skip = {FAILURES_FILE, REJECTED_FILE, METRICS_FILE}
    candidates = sorted(p for p in run_dir.glob("*.jsonl") if p.name not in skip)
    return candidates[0] if candidates else default
