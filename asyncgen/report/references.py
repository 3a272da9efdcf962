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
from typing import Any

from asyncgen.errors import AsyncgenError
from asyncgen.report.text_stats import distinct_n, ngram_overlap

log = logging.getLogger(__name__)
MAX_REFERENCE_DIALOGUES = 2000
PACKAGED = "hand-written MultiWOZ-style sample packaged with asyncgen (50 dialogues)"


def _figures(texts: Sequence[str]) -> dict[str, float]:
    return {
        "distinct_1": round(distinct_n(texts, 1), 4),
        "distinct_2": round(distinct_n(texts, 2), 4),
        "ngram_overlap_4": round(ngram_overlap(texts, 4), 4),
    }


def _reference_turns(config: dict[str, Any], pipeline: str) -> tuple[str, list[str], list[str]]:
    """(where it comes from, user turns, assistant turns) of the reference dialogues."""
    from asyncgen.dialogue.multiwoz import load_multiwoz

    path = (config.get("dialogue") or {}).get("dataset_path") if pipeline == "dialogue" else None
    source = f"this run's base dataset ({path})" if path else PACKAGED
    try:
        dataset = load_multiwoz(path)
    except AsyncgenError as exc:  # a moved dataset: fall back to the packaged sample
        log.info("reference dataset unavailable (%s); using the packaged sample", exc)
        dataset, source = load_multiwoz(None), PACKAGED
    users: list[str] = []
    assistants: list[str] = []
    for dialogue in dataset.dialogues[:MAX_REFERENCE_DIALOGUES]:
        for turn in dialogue.turns:
            (users if turn.speaker == 0 else assistants).append(turn.utterance)
    return source, users, assistants


def reference_diversity(
    config: dict[str, Any], pipeline: str, users: Sequence[str], assistants: Sequence[str]
) -> dict[str, Any]:
    """Run and reference figures per side on equal-sized samples, with the source named."""
    try:
        source, ref_users, ref_assistants = _reference_turns(config, pipeline)
    except (AsyncgenError, OSError) as exc:
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
