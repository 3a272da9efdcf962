"""One streaming pass over a run directory: counters and samples, never the whole run."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncgen.export.reader import ReadReport
from asyncgen.report.browse import BrowserData, judge_scores
from asyncgen.report.reader import find_records_file, iter_jsonl
from asyncgen.report.text_stats import Reservoir, edit_rates, words
from asyncgen.report.view import NoisyVersion, RecordView, view_record
from asyncgen.store.rundir import FAILURES_FILE, REJECTED_FILE
from asyncgen.tokens import count_tokens


@dataclass
class NoiseTally:
    """Edits per noise strategy, summed so rates can be averaged."""

    count: int = 0
    char_rate_sum: float = 0.0
    word_rate_sum: float = 0.0

    def add(self, char_rate: float, word_rate: float) -> None:
        """Add one noisy version's edit rates."""
        self.count += 1
        self.char_rate_sum += char_rate
        self.word_rate_sum += word_rate

    def to_json(self) -> dict[str, float]:
        """Mean rates."""
        n = max(self.count, 1)
        return {
            "count": self.count,
            "char_edit_rate": round(self.char_rate_sum / n, 4),
            "word_edit_rate": round(self.word_rate_sum / n, 4),
        }


@dataclass
class RunTally:
    """Everything the report needs, gathered in one pass with bounded memory."""

    pipelines: Counter[str] = field(default_factory=Counter)
    records: int = 0
    first_parse: int = 0
    after_retries: int = 0
    attempts_unknown: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    counters: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    missing_fields: Counter[str] = field(default_factory=Counter)
    words_per_turn: Counter[int] = field(default_factory=Counter)
    tokens_per_turn: Counter[int] = field(default_factory=Counter)
    words_per_record: Counter[int] = field(default_factory=Counter)
    tokens_per_record: Counter[int] = field(default_factory=Counter)
    turns_per_record: Counter[int] = field(default_factory=Counter)
    user_turns_total: int = 0
    noised_user_turns: int = 0
    noise: dict[str, NoiseTally] = field(default_factory=lambda: defaultdict(NoiseTally))
    user_sample: Reservoir[str] = field(default_factory=lambda: Reservoir(0, random.Random(0)))
    assistant_sample: Reservoir[str] = field(default_factory=lambda: Reservoir(0, random.Random(0)))
    record_sample: Reservoir[dict[str, Any]] = field(
        default_factory=lambda: Reservoir(0, random.Random(0))
    )
    problems: ReadReport = field(default_factory=lambda: ReadReport(on_problem=None))
    judge_sums: dict[str, float] = field(default_factory=dict)
    judge_counts: Counter[str] = field(default_factory=Counter)
    judged: int = 0


def collect(
    run_dir: Path, sample_size: int, seed: int = 0, browser: BrowserData | None = None
) -> RunTally:
    """Read records, failures and rejects once; keep counts and seeded samples.

    With `browser`, every entry is also added to the conversation browser's data.
    """
    tally = RunTally(
        user_sample=Reservoir(sample_size, random.Random(seed)),
        assistant_sample=Reservoir(sample_size, random.Random(seed + 1)),
        record_sample=Reservoir(min(sample_size, 500), random.Random(seed + 2)),
    )
    for record in iter_jsonl(find_records_file(run_dir), tally.problems):
        _add_record(tally, record)
        if browser is not None:
            browser.add_record(record)
    for failure in iter_jsonl(run_dir / FAILURES_FILE, tally.problems):
        tally.failed[_cause(failure)] += 1
        if browser is not None:
            browser.add_failure(failure)
    for reject in iter_jsonl(run_dir / REJECTED_FILE, tally.problems):
        tally.rejected[_cause(reject)] += 1
        if browser is not None:
            browser.add_reject(reject)
    return tally


def _cause(entry: dict[str, Any]) -> str:
    reason = str(entry.get("reason") or "unknown")
    return reason.split(":")[0].strip()[:60] or "unknown"


def _add_record(tally: RunTally, record: dict[str, Any]) -> None:
    view = view_record(record)
    tally.records += 1
    tally.pipelines[view.pipeline] += 1
    _add_validity(tally, view)
    for name, values in view.attributes.items():
        tally.counters[name].update(values)
    tally.missing_fields.update(view.missing)
    _add_lengths(tally, view)
    _add_noise(tally, view)
    for text in view.user_turns:
        tally.user_sample.add(text)
    for text in view.assistant_turns:
        tally.assistant_sample.add(text)
    tally.record_sample.add(record)
    scores = judge_scores(record)
    if scores:
        tally.judged += 1
        tally.judge_counts.update(scores.keys())
        for name, value in scores.items():
            tally.judge_sums[name] = tally.judge_sums.get(name, 0.0) + value


def _add_validity(tally: RunTally, view: RecordView) -> None:
    if view.attempts is None:
        tally.attempts_unknown += 1
    elif view.attempts <= 1:
        tally.first_parse += 1
    else:
        tally.after_retries += 1


def _add_lengths(tally: RunTally, view: RecordView) -> None:
    record_words = record_tokens = 0
    for text in view.user_turns + view.assistant_turns:
        n_words, n_tokens = len(words(text)), count_tokens(text)
        tally.words_per_turn[n_words] += 1
        tally.tokens_per_turn[n_tokens] += 1
        record_words += n_words
        record_tokens += n_tokens
    tally.words_per_record[record_words] += 1
    tally.tokens_per_record[record_tokens] += 1
    tally.turns_per_record[len(view.user_turns)] += 1


def _add_noise(tally: RunTally, view: RecordView) -> None:
    tally.user_turns_total += len(view.user_turns)
    tally.noised_user_turns += len({version.clean for version in view.noisy})
    for version in view.noisy:
        if version.edits:
            _add_logged_edits(tally, version)
            continue
        char_rate, word_rate = edit_rates(version.clean, version.noisy)
        tally.noise[version.noise_type or "unspecified"].add(char_rate, word_rate)


def _add_logged_edits(tally: RunTally, version: NoisyVersion) -> None:
    """Per strategy, characters and words touched by its own edits, from the edit log."""
    chars = max(len(version.clean), 1)
    clean_words = max(len(version.clean.split()), 1)
    touched: dict[str, tuple[int, int]] = {}
    for edit in version.edits:
        name = str(edit.get("strategy", "unspecified"))
        size = max(len(str(edit.get("deleted", ""))), len(str(edit.get("inserted", ""))))
        done_chars, done_words = touched.get(name, (0, 0))
        touched[name] = (done_chars + size, done_words + 1)
    for name, (n_chars, n_edits) in touched.items():
        tally.noise[name].add(n_chars / chars, min(n_edits / clean_words, 1.0))
