"""Reference diversity: the same figures on dialogues people wrote, on equal-sized samples.

distinct-n falls as a sample grows, so a run's figure means little alone. The reference
is the run's own base dataset for a dialogue run with `dialogue.dataset_path`, else the
hand-written MultiWOZ-style sample packaged with asyncgen (50 dialogues written for the
project, `scripts/dialogue_samples/multiwoz_source.txt`). Both sides are measured on the
same number of turns: the smaller of the two samples.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asyncgen.errors import DatasetError
from asyncgen.personas.tables import read_rows
from asyncgen.report.text_stats import distinct_n, ngram_overlap

log = logging.getLogger(__name__)
MAX_REFERENCE_DIALOGUES = 2000
SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "multiwoz_sample.jsonl"
PACKAGED = "hand-written MultiWOZ-style sample packaged with asyncgen (50 dialogues)"


def _figures(texts: Sequence[str]) -> dict[str, float]:
    return {
        "distinct_1": round(distinct_n(texts, 1), 4),
        "distinct_2": round(distinct_n(texts, 2), 4),
        "ngram_overlap_4": round(ngram_overlap(texts, 4), 4),
    }


def _turns_of(row: dict[str, Any]) -> list[tuple[int, str]]:
    """(speaker, utterance) pairs of one MultiWOZ v2.2 row (columns or a list of turns)."""
    turns = row.get("turns")
    if isinstance(turns, dict):
        speakers, texts = turns.get("speaker") or [], turns.get("utterance") or []
        return [(_speaker(s), str(t)) for s, t in zip(speakers, texts, strict=False)]
    if isinstance(turns, list):
        return [
            (_speaker(t.get("speaker")), str(t.get("utterance", "")))
            for t in turns
            if isinstance(t, dict)
        ]
    return []


def _speaker(value: Any) -> int:
    return 0 if value in (0, "0", "USER", "user") else 1


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """The first rows of a MultiWOZ-format dataset, in any layout the dataset loaders read."""
    return [data for _, _, data in read_rows(path)[:MAX_REFERENCE_DIALOGUES]]


def _reference_turns(config: dict[str, Any], pipeline: str) -> tuple[str, list[str], list[str]]:
    """(where it comes from, user turns, assistant turns) of the reference dialogues."""
    path = (config.get("dialogue") or {}).get("dataset_path") if pipeline == "dialogue" else None
    rows: list[dict[str, Any]] = []
    source = PACKAGED
    if path:
        try:
            rows, source = _read_rows(Path(path)), f"this run's base dataset ({path})"
        except DatasetError as exc:
            log.info("reference dataset %s unreadable (%s); using the packaged sample", path, exc)
    if not rows:
        rows, source = _read_rows(SAMPLE_PATH), PACKAGED
    users: list[str] = []
    assistants: list[str] = []
    for row in rows:
        for speaker, text in _turns_of(row):
            (users if speaker == 0 else assistants).append(text)
    return source, users, assistants


def reference_diversity(
    config: dict[str, Any], pipeline: str, users: Sequence[str], assistants: Sequence[str]
) -> dict[str, Any]:
    """Run and reference figures per side on equal-sized samples, with the source named."""
    try:
        source, ref_users, ref_assistants = _reference_turns(config, pipeline)
    except DatasetError as exc:
        return {"source": None, "problem": str(exc)}
    result: dict[str, Any] = {"source": source}
    for side, run, ref in (
        ("user_turns", users, ref_users),
        ("assistant_turns", assistants, ref_assistants),
    ):
        size = min(len(run), len(ref))
        if size < 2:
            continue
        result[side] = {
            "turns": size,
            "run": _figures(run[:size]),
            "reference": _figures(ref[:size]),
        }
    return result
