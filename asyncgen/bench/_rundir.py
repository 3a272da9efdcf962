"""A workload shaped like a previous run: its conversations' real prompt and answer lengths.

A run directory's ``records.jsonl`` holds finished conversations. Each becomes the calls
that produced it: an interaction record (``messages``) one call per assistant message,
asked with the history before it and ``max_tokens`` set to that answer's length; a
dialogue record (``turns``) one call whose answer is the whole dialogue, asked with its
scenario. The run's ``ledger.jsonl``, when present, gives the true number of calls per
record (user-model turns, re-asks and failed items included); without it, the calls
above are the count. Requests go out conversation by conversation, call by call, from a
seeded order, so a benchmark's token mix is the run's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from asyncgen.errors import DatasetError
from asyncgen.llm.types import ChatRequest
from asyncgen.sim.responders import GENERIC_KIND
from asyncgen.store.jsonl import iter_jsonl
from asyncgen.store.ledger import ledger_path, read_ledger
from asyncgen.store.rundir import RECORDS_FILE
from asyncgen.tokens import count_message_tokens, count_tokens

MIN_MAX_TOKENS = 16


@dataclass
class RunDirWorkload:
    """Calls replayed from a run directory's records, conversation by conversation."""

    conversations: list[list[ChatRequest]]
    rng: random.Random
    calls_per_conversation: float
    source: str
    stream: bool = False
    _queue: list[ChatRequest] = field(default_factory=list)

    def next_request(self) -> ChatRequest:
        """The next call of the current conversation (a new, seeded one when it ends)."""
        if not self._queue:
            self._queue = list(self.rng.choice(self.conversations))
        call = self._queue.pop(0)
        return replace(call, messages=list(call.messages), stream=self.stream)

    def describe(self) -> dict[str, Any]:
        """What the workload is, for bench.json and the suggested config."""
        calls = [c for conv in self.conversations for c in conv]
        prompt = sum(count_message_tokens(c.messages) for c in calls) / len(calls)
        answer = sum(c.max_tokens or 0 for c in calls) / len(calls)
        return {
            "source": self.source,
            "conversations": len(self.conversations),
            "calls_in_records_per_conversation": len(calls) / len(self.conversations),
            "calls_per_conversation": self.calls_per_conversation,
            "mean_prompt_tokens": prompt,
            "mean_max_tokens": answer,
        }


def _interaction_calls(messages: list[Any]) -> list[ChatRequest]:
    calls = []
    history: list[dict[str, str]] = []
    for msg in messages:
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), str):
            continue
        role = str(msg.get("role") or "user")
        if role == "assistant" and history:
            calls.append(
                ChatRequest(
                    messages=list(history),
                    kind=GENERIC_KIND,
                    max_tokens=max(MIN_MAX_TOKENS, count_tokens(msg["content"])),
                )
            )
        history.append({"role": role, "content": msg["content"]})
    return calls


def _dialogue_calls(data: dict[str, Any]) -> list[ChatRequest]:
    lines = []
    for turn in data["turns"]:
        if isinstance(turn, dict):
            lines.append(f"USER: {turn.get('user_utterance', '')}")
            lines.append(f"ASSISTANT: {turn.get('assistant_response', '')}")
    if not lines:
        return []
    scenario = str(data.get("scenario") or data.get("generated_scenario") or "")
    prompt = f"Write a dialogue for this scenario.\n{scenario}".strip()
    answer = count_tokens("\n".join(lines))
    return [
        ChatRequest(
            messages=[{"role": "user", "content": prompt}],
            kind=GENERIC_KIND,
            max_tokens=max(MIN_MAX_TOKENS, answer),
        )
    ]


def _calls_of(data: Any) -> list[ChatRequest]:
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("turns"), list):
        return _dialogue_calls(data)
    if isinstance(data.get("messages"), list):
        return _interaction_calls(data["messages"])
    return []


def load_run_workload(run_dir: str | Path, *, seed: int, stream: bool = False) -> RunDirWorkload:
    """Read a run directory's records (and ledger) into a workload.

    Raises:
        DatasetError: no records.jsonl, or no record with a conversation in it.
        StoreError: a line before the last is not a JSON object (file and line named).
    """
    root = Path(run_dir)
    path = root / RECORDS_FILE
    if not path.is_file():
        raise DatasetError(f"{path}: cannot read the run's records (no such file)")
    try:  # a torn last line of an interrupted run is skipped; any other bad line is an error
        conversations = [calls for _, record in iter_jsonl(path) if (calls := _calls_of(record))]
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the run's records ({exc.strerror})") from exc
    if not conversations:
        raise DatasetError(f"{path}: no record with messages or turns to replay")
    per_conversation = sum(len(c) for c in conversations) / len(conversations)
    source = f"{path} ({len(conversations)} conversations)"
    totals = read_ledger(root) if ledger_path(root).exists() else None
    if totals is not None and totals.total.requests > 0:
        per_conversation = totals.total.requests / len(conversations)
        source += f"; calls per conversation from {ledger_path(root).name}"
    return RunDirWorkload(conversations, random.Random(seed), per_conversation, source, stream)
