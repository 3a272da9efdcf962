"""Rebuild a run's state from its files: what is done, what failed, what was refused.

Blocking file work: call `load_existing` in a worker thread (`asyncgen.offload`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from asyncgen.contract import Pipeline, Reason, Record
from asyncgen.jsontypes import JsonObject
from asyncgen.store.jsonl import iter_jsonl, repair_tail
from asyncgen.store.rundir import RunLayout

logger = logging.getLogger("asyncgen.store")


@dataclass
class ExistingRun:
    """What a run directory already holds."""

    done_ids: set[str] = field(default_factory=set)
    skip_ids: set[str] = field(default_factory=set)
    failed: int = 0
    rejected: int = 0
    dedup_rejects: int = 0
    duplicate_lines: int = 0
    torn_bytes: dict[str, int] = field(default_factory=dict)
    dedup_items: list[tuple[str, str]] = field(default_factory=list)

    @property
    def done(self) -> int:
        """Records on disk."""
        return len(self.done_ids)

    def is_accounted(self, record_id: str) -> bool:
        """True when the item with this id already ended (record, failure or reject)."""
        return record_id in self.done_ids or record_id in self.skip_ids


def load_existing(
    layout: RunLayout,
    pipeline: Pipeline,
    *,
    collect_dedup: bool = False,
    retry_failures: bool = False,
) -> ExistingRun:
    """Repair torn tails, then rebuild the done set and re-teach the pipeline its state.

    Args:
        layout: the run's files.
        pipeline: `restore` is called once per record on disk.
        collect_dedup: also gather `(id, dedup_text)` for the uniqueness gate.
        retry_failures: empty failures.jsonl so its items run again (used by `complete`).

    Raises:
        StoreError: a complete line of an output file is not a JSON object.
    """
    state = ExistingRun()
    for path in (*layout.outputs, layout.metrics):
        dropped = repair_tail(path)
        if dropped:
            state.torn_bytes[path.name] = dropped
            logger.warning("dropped a torn last line (%d bytes) from %s", dropped, path)
    _load_records(layout.records, pipeline, state, collect_dedup)
    if retry_failures:
        _reset(layout.failures)
    else:
        state.failed = _collect_ids(layout.failures, state.skip_ids)
    state.rejected = _collect_ids(layout.rejected, state.skip_ids, state)
    return state


def _load_records(path: Path, pipeline: Pipeline, state: ExistingRun, collect: bool) -> None:
    """Each record line: remember its id, restore the pipeline, gather its dedup text."""
    dedup_text: Callable[[Record], str | None] = pipeline.dedup_text
    for lineno, obj in iter_jsonl(path):
        record_id = str(obj.get("id", f"line-{lineno}"))
        if record_id in state.done_ids:
            state.duplicate_lines += 1
            logger.warning("%s:%d repeats id %s; counted once", path, lineno, record_id)
            continue
        state.done_ids.add(record_id)
        pipeline.restore(obj)
        if collect:
            text = dedup_text(Record(id=record_id, data=obj))
            if text is not None:
                state.dedup_items.append((record_id, text))


def _collect_ids(path: Path, ids: set[str], state: ExistingRun | None = None) -> int:
    """Add each line's id to `ids`; return the number of lines."""
    total = 0
    for _, obj in iter_jsonl(path):
        total += 1
        if "id" in obj:
            ids.add(str(obj["id"]))
        if state is not None and obj.get("reason") == Reason.DUPLICATE:
            state.dedup_rejects += 1
    return total


def _reset(path: Path) -> None:
    """Empty a file whose items are about to be retried."""
    if path.exists():
        path.write_bytes(b"")


def scan_ids(path: Path) -> set[str]:
    """The ids in a JSONL file (for tests and tools)."""
    found: set[str] = set()
    for _, obj in iter_jsonl(path):
        if "id" in obj:
            found.add(str(obj["id"]))
    return found


def records_of(path: Path) -> list[JsonObject]:
    """Every record of a small file, in order (for tests and tools)."""
    return [obj for _, obj in iter_jsonl(path)]
