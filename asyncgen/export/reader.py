"""Stream a run directory's records line by line; report every line that cannot be used.

A corrupt line (torn write, bad JSON, wrong shape) is reported with its file and line
number and skipped, or aborts the read when `strict` is set. It is never dropped silently:
`ReadReport` counts it and keeps the first locations for the statistics and the CLI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import DatasetError, StoreError
from asyncgen.store.rundir import FAILURES_FILE, RECORDS_FILE, REJECTED_FILE

logger = logging.getLogger("asyncgen.export")

MAX_EXAMPLES = 50


@dataclass
class ReadReport:
    """What reading a run directory met besides good records."""

    records_read: int = 0
    corrupt_lines: int = 0
    invalid_records: int = 0
    failed_records: int = 0
    rejected_records: int = 0
    rejected_kept: int = 0
    lines_in_progress: int = 0
    locations: list[str] = field(default_factory=list)
    on_problem: Callable[[str], None] | None = logger.warning

    @property
    def skipped_lines(self) -> int:
        """Lines reported and skipped (corrupt JSON or unusable records)."""
        return self.corrupt_lines + self.invalid_records

    def problem(self, path: Path, lineno: int, why: str, *, corrupt: bool, strict: bool) -> None:
        """Report one unusable line; raise when strict.

        Raises:
            DatasetError: `strict` is set; the message names file and line.
        """
        where = f"{path}:{lineno}: {why}"
        if strict:
            raise DatasetError(where)
        if corrupt:
            self.corrupt_lines += 1
        else:
            self.invalid_records += 1
        if len(self.locations) < MAX_EXAMPLES:
            self.locations.append(where)
            if self.on_problem is not None:
                self.on_problem(f"skipped {where}")
        elif self.skipped_lines == MAX_EXAMPLES + 1 and self.on_problem is not None:
            self.on_problem(f"more than {MAX_EXAMPLES} unusable lines: counting, no longer listing")

    def in_progress(self, path: Path, lineno: int) -> None:
        """A line still being written when the export started: left for the next export."""
        self.lines_in_progress += 1
        if self.on_problem is not None:
            self.on_problem(f"left out {path}:{lineno}: still being written when export started")

    def as_dict(self) -> dict[str, Any]:
        """The counts for statistics.json."""
        return {
            "records_read": self.records_read,
            "lines_in_progress": self.lines_in_progress,
            "corrupt_lines": self.corrupt_lines,
            "invalid_records": self.invalid_records,
            "failed_records": self.failed_records,
            "rejected_records": self.rejected_records,
            "rejected_kept": self.rejected_kept,
            "problem_locations": list(self.locations),
        }


@dataclass(frozen=True)
class Line:
    """One parsed record and where it came from."""

    path: Path
    lineno: int
    record: dict[str, Any]


def records_files(run: Path) -> list[Path]:
    """The records file(s) of a run directory, or the JSONL file itself.

    Raises:
        StoreError: the path does not exist or holds no records file.
    """
    if run.is_file():
        return [run]
    if not run.is_dir():
        raise StoreError(f"{run}: no such run directory")
    if (run / RECORDS_FILE).is_file():
        return [run / RECORDS_FILE]
    raise StoreError(
        f"{run}: no {RECORDS_FILE} in the run directory (pass a records JSONL file to export it)"
    )


def snapshot_sizes(run: Path) -> dict[Path, int]:
    """Sizes of the files a run export reads, so both passes see the same bytes."""
    paths = records_files(run)
    if run.is_dir():
        paths += [p for p in (run / FAILURES_FILE, run / REJECTED_FILE) if p.is_file()]
    return {p: p.stat().st_size for p in paths}


def iter_lines(
    path: Path, report: ReadReport, *, strict: bool, limit: int | None = None
) -> Iterator[Line]:
    """Each JSON object of a JSONL file (up to `limit` bytes), one line in memory at a time."""
    consumed = 0
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            consumed += len(raw)
            if limit is not None and consumed > limit:
                if consumed - len(raw) < limit:
                    report.in_progress(path, lineno)
                return
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                why = "not valid JSON (torn or corrupt line)"
                report.problem(path, lineno, why, corrupt=True, strict=strict)
                continue
            if not isinstance(value, dict):
                report.problem(path, lineno, "not a JSON object", corrupt=True, strict=strict)
                continue
            yield Line(path, lineno, value)


def iter_run(
    run: Path,
    report: ReadReport,
    *,
    strict: bool = False,
    keep_rejected: bool = False,
    sizes: dict[Path, int] | None = None,
) -> Iterator[Line]:
    """Every record of a run, then (when kept) the rejected ones that carry their data.

    Args:
        run: a run directory or a records JSONL file.
        report: collects counts and the locations of unusable lines.
        strict: raise on the first unusable line instead of skipping it.
        keep_rejected: also yield rejected records that carry their data.
        sizes: read each file only up to this size (from `snapshot_sizes`).

    Raises:
        DatasetError: an unusable line while `strict`.
        StoreError: no records file.
    """
    sizes = sizes if sizes is not None else snapshot_sizes(run)
    for path in records_files(run):
        for line in iter_lines(path, report, strict=strict, limit=sizes.get(path)):
            report.records_read += 1
            yield line
    if not run.is_dir():
        return
    report.failed_records = _count_lines(run / FAILURES_FILE, sizes.get(run / FAILURES_FILE))
    rejected = run / REJECTED_FILE
    if rejected not in sizes:
        return
    for line in iter_lines(rejected, report, strict=strict, limit=sizes[rejected]):
        report.rejected_records += 1
        data = line.record.get("data")
        if keep_rejected and isinstance(data, dict):
            report.rejected_kept += 1
            reason = line.record.get("reason") or "rejected"
            yield Line(line.path, line.lineno, {**data, "_rejected_reason": reason})


def _count_lines(path: Path, limit: int | None) -> int:
    if limit is None:
        return 0
    count = 0
    with path.open("rb") as handle:
        while limit > 0:
            chunk = handle.read(min(limit, 1 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            limit -= len(chunk)
    return count
