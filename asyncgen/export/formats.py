"""One writer per output format; each streams samples to a temporary file.

Text formats are written as they come; Parquet goes through a batched pyarrow writer;
the Hugging Face folder is built from batched Arrow files with `datasets` (an optional
extra, imported only when asked for). Nothing appears under its final name before
`commit`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import orjson

from asyncgen.export.sample import TrainingSample
from asyncgen.store.atomic import AtomicFile

FORMATS = ("json", "jsonl", "openai", "sharegpt", "parquet", "hf", "dst")
SHAREGPT_ROLES = {"system": "system", "user": "human", "assistant": "gpt"}
_SUFFIX = {
    "json": "samples.json",
    "jsonl": "samples.jsonl",
    "openai": "openai.jsonl",
    "sharegpt": "sharegpt.jsonl",
    "parquet": "samples.parquet",
    "dst": "dst.jsonl",
}


class SampleWriter(Protocol):
    """Streams the samples of one split in one format."""

    def write(self, sample: TrainingSample) -> None:
        """Add one sample."""
        ...

    def commit(self) -> Path:
        """Finish and move the output into place; returns its final path."""
        ...

    def abort(self) -> None:
        """Drop everything written; the final path is untouched."""
        ...


def file_name(fmt: str, split: str, stamp: str | None) -> str:
    """`train_samples.json`, `validation_openai.jsonl`, … with an optional `_YYYYmmdd_HHMMSS`."""
    stem, dot, ext = _SUFFIX[fmt].partition(".")
    return f"{split}_{stem}{'_' + stamp if stamp else ''}{dot}{ext}"


def chat_messages(sample: TrainingSample, system_prompt: str | None) -> list[dict[str, str]]:
    """The conversation as chat messages, led by the system message when one is configured."""
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return head + [{"role": m["role"], "content": m["content"]} for m in sample.full_conversation]


def openai_line(sample: TrainingSample, system_prompt: str | None) -> dict[str, Any]:
    """OpenAI fine-tuning chat format: only `messages`, as the API expects."""
    return {"messages": chat_messages(sample, system_prompt)}


def sharegpt_line(sample: TrainingSample, system_prompt: str | None) -> dict[str, Any]:
    """ShareGPT format: `conversations` of `from` (system/human/gpt) and `value`."""
    turns = [
        {"from": SHAREGPT_ROLES[m["role"]], "value": m["content"]}
        for m in chat_messages(sample, system_prompt)
    ]
    return {"id": sample.sample_id, "conversations": turns}


def dst_rows(sample: TrainingSample) -> list[dict[str, Any]]:
    """Dialogue-state-tracking rows: one per user turn of a goal-grounded dialogue.

    `history` is every message before the user's turn (`"user: …"`/`"system: …"`), `state`
    the annotated dialogue state after it as `{service, slot, value}` rows (a fixed
    schema, so `datasets` loads it), `state_text` the same as `service-slot=value; …`.
    Samples without states (ungrounded dialogues, noisy copies) give no rows.
    """
    meta = sample.metadata
    states = meta.get("dialogue_states")
    if not isinstance(states, list) or meta.get("user_turns") == "noisy":
        return []
    rows: list[dict[str, Any]] = []
    history: list[str] = []
    user_turn = 0
    for message in sample.full_conversation:
        if message["role"] != "user":
            history.append(f"system: {message['content']}")
            continue
        state = states[user_turn] if user_turn < len(states) else None
        triples = [
            {"service": str(service), "slot": str(slot), "value": str(value)}
            for service, slots in sorted((state or {}).items())
            for slot, value in sorted(slots.items())
        ]
        rows.append(
            {
                "dialogue_id": str(meta.get("dialogue_id") or sample.sample_id),
                "turn_index": user_turn,
                "history": list(history),
                "user_utterance": message["content"],
                "state": triples,
                "state_text": "; ".join(
                    f"{t['service']}-{t['slot']}={t['value']}" for t in triples
                ),
            }
        )
        history.append(f"user: {message['content']}")
        user_turn += 1
    return rows


class _FileWriter:
    """A writer into one atomic file: nothing appears under the final name before `commit`."""

    def __init__(self, final: Path) -> None:
        self._file = AtomicFile(final)

    def commit(self) -> Path:
        """Rename into place."""
        return self._file.commit()

    def abort(self) -> None:
        """Drop the temporary file."""
        self._file.abort()


class JsonLinesWriter(_FileWriter):
    """One JSON object per line; `lines` makes a sample's lines (one, or none or several
    for `dst_rows`)."""

    def __init__(
        self, final: Path, lines: Callable[[TrainingSample], Iterable[dict[str, Any]]]
    ) -> None:
        super().__init__(final)
        self._lines = lines

    def write(self, sample: TrainingSample) -> None:
        """Append the sample's lines."""
        for line in self._lines(sample):
            self._file.write(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))


class JsonArrayWriter(_FileWriter):
    """The spec's JSON: one array of sample objects, streamed element by element."""

    def __init__(self, final: Path) -> None:
        super().__init__(final)
        self._file.write(b"[")
        self._count = 0

    def write(self, sample: TrainingSample) -> None:
        """Append one element."""
        self._file.write(b",\n" if self._count else b"\n")
        self._file.write(orjson.dumps(sample.to_dict(), option=orjson.OPT_INDENT_2))
        self._count += 1

    def commit(self) -> Path:
        """Close the array and rename into place."""
        self._file.write(b"\n]\n" if self._count else b"]\n")
        return super().commit()
