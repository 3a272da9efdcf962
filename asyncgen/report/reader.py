"""Stream a run directory's JSONL files line by line, reporting what cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson


@dataclass
class ReadProblems:
    """Lines that could not be used, by file and line number (kept bounded)."""

    corrupt: int = 0
    examples: list[str] = field(default_factory=list)
    limit: int = 20

    def add(self, path: Path, lineno: int, why: str) -> None:
        """Count one unusable line and keep its location while few."""
        self.corrupt += 1
        if len(self.examples) < self.limit:
            self.examples.append(f"{path.name}:{lineno}: {why}")


def iter_jsonl(path: Path, problems: ReadProblems) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSONL file; a missing file yields nothing."""
    if not path.is_file():
        return
    with path.open("rb") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                problems.add(path, lineno, "not valid JSON (torn or corrupt line)")
                continue
            if not isinstance(value, dict):
                problems.add(path, lineno, "not a JSON object")
                continue
            yield value


def read_json(path: Path) -> dict[str, Any]:
    """A whole JSON file as a dict, or {} when it is missing or unreadable."""
    try:
        value = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def find_records_file(run_dir: Path) -> Path:
    """The records file of a run: records.jsonl, or the one the pipeline named."""
    default = run_dir / "records.jsonl"
    if default.is_file():
        return default
    skip = {"failures.jsonl", "rejected.jsonl", "metrics.jsonl"}
    candidates = sorted(p for p in run_dir.glob("*.jsonl") if p.name not in skip)
    return candidates[0] if candidates else default
