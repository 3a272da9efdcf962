"""Check a finished dialogue run against its plan: mix, turn ranges, base reuse, emotions."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncgen.config import DialogueSettings
from asyncgen.dialogue.parse import emotion_for_turn
from asyncgen.store.jsonl import read_jsonl
from asyncgen.store.rundir import RECORDS_FILE


@dataclass
class RunAudit:
    """What a dialogue run's records say about themselves."""

    records: int = 0
    service_mix: dict[str, float] = field(default_factory=dict)
    resolution_mix: dict[str, float] = field(default_factory=dict)
    out_of_range: int = 0
    bad_emotions: int = 0
    reused_bases: int = 0
    duplicate_ids: int = 0
    mean_turns: float = 0.0
    combination_usage: dict[str, int] = field(default_factory=dict)

    @property
    def combination_spread(self) -> int:
        """Most-used minus least-used count among the combinations of each service count:
        the report picks the least-used combination, so this stays small."""
        by_size: dict[int, list[int]] = {}
        for name, count in self.combination_usage.items():
            by_size.setdefault(name.count("+") + 1, []).append(count)
        return max((max(c) - min(c) for c in by_size.values()), default=0)

    def max_mix_error(self, settings: DialogueSettings) -> float:
        """The largest gap, in percentage points, between realised and configured shares."""
        gaps = [
            abs(realised.get(name, 0.0) - 100 * weight / sum(weights.values()))
            for realised, weights in (
                (self.service_mix, settings.service_weights),
                (self.resolution_mix, settings.resolution_statuses),
            )
            for name, weight in weights.items()
        ]
        return max(gaps, default=0.0)


def _shares(counts: Counter[str], total: int) -> dict[str, float]:
    return {name: round(100 * n / total, 2) for name, n in sorted(counts.items())} if total else {}


def _is_in_range(record: dict[str, Any]) -> bool:
    gen = record.get("generation_params") or {}
    turns = len(record.get("turns") or [])
    return bool(turns) and gen.get("min_turns", 1) <= turns <= gen.get("max_turns", turns)


def _has_planned_emotions(record: dict[str, Any]) -> bool:
    turns = record.get("turns") or []
    users, helpers = record.get("user_emotions") or [], record.get("assistant_emotions") or []
    return bool(users and helpers) and all(
        t.get("user_emotion") == emotion_for_turn(users, i, len(turns))
        and t.get("assistant_emotion") == emotion_for_turn(helpers, i, len(turns))
        for i, t in enumerate(turns)
    )


def audit_records(records: list[dict[str, Any]]) -> RunAudit:
    """Audit records already loaded."""
    total = len(records)
    bases = Counter(r.get("base_dialogue_hash") for r in records)
    ids = Counter(r.get("dialogue_id") for r in records)
    return RunAudit(
        records=total,
        service_mix=_shares(Counter(str(r.get("service_count")) for r in records), total),
        resolution_mix=_shares(Counter(str(r.get("resolution_status")) for r in records), total),
        out_of_range=sum(not _is_in_range(r) for r in records),
        bad_emotions=sum(not _has_planned_emotions(r) for r in records),
        reused_bases=sum(n - 1 for n in bases.values() if n > 1),
        duplicate_ids=sum(n - 1 for n in ids.values() if n > 1),
        mean_turns=round(sum(len(r.get("turns") or []) for r in records) / total, 2)
        if total
        else 0.0,
        combination_usage=dict(
            sorted(Counter("+".join(sorted(r.get("services") or [])) for r in records).items())
        ),
    )


def audit_run(run_dir: Path, records_file: str = RECORDS_FILE) -> RunAudit:
    """Audit the records of a run directory."""
    return audit_records(read_jsonl(Path(run_dir) / records_file))
