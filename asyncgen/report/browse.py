"""The conversation browser's data: a compact index to filter, and full entries in chunks.

Every record, reject and failure of a run becomes one entry. The index holds only what
filters and the list need (a few small columns, categorical values dictionary-coded);
the reader's full entries are gzip-compressed in chunks of `CHUNK_SIZE`, so a page over
10,000 conversations parses a small index at once and inflates one chunk per opened
conversation. A noised turn keeps its clean and sent text; the page diffs the two words
when the conversation is opened (difflib over every turn of 10,000 records cost seconds).
"""

from __future__ import annotations

import base64
import gzip
from dataclasses import dataclass, field
from typing import Any

import orjson

from asyncgen.report.labels import label

CHUNK_SIZE = 200
RAW_LIMIT = 6000
SNIPPET_LIMIT = 160
ACCEPTED, REJECTED, FAILED = "Accepted", "Rejected", "Failed"

# (column, label, kind): "one" holds one value per entry, "many" a list, "num" a number
FACETS: tuple[tuple[str, str, str], ...] = (
    ("status", "Outcome", "one"),
    ("reason", "Reject or failure reason", "one"),
    ("persona", "Persona", "one"),
    ("features", "Persona feature", "many"),
    ("services", "Service", "many"),
    ("category", "Scenario category", "one"),
    ("resolution", "Resolution", "one"),
    ("user_emotions", "User emotion", "many"),
    ("assistant_emotions", "Assistant emotion", "many"),
    ("model", "Model", "one"),
    ("end_reason", "Why it ended", "one"),
    ("noised", "Noise", "one"),
    ("turns", "Turns", "num"),
    ("score", "Judge score", "num"),
)


def judge_scores(record: dict[str, Any]) -> dict[str, float]:
    """The judge's scores a record carries (`record["quality"]["scores"]`), else {}."""
    quality = record.get("quality")
    scores = quality.get("scores") if isinstance(quality, dict) else None
    if not isinstance(scores, dict):
        return {}
    return {str(k): float(v) for k, v in scores.items() if isinstance(v, int | float)}


def overall_score(record: dict[str, Any]) -> float | None:
    """`quality.overall` when the judge gave one, else the mean of its scores."""
    quality = record.get("quality")
    if isinstance(quality, dict) and isinstance(quality.get("overall"), int | float):
        return round(float(quality["overall"]), 3)
    scores = judge_scores(record)
    return round(sum(scores.values()) / len(scores), 3) if scores else None


@dataclass
class BrowserData:
    """The index columns and the compressed chunks, filled one entry at a time."""

    columns: dict[str, list[Any]] = field(
        default_factory=lambda: {name: [] for name in ("id", "snippet", *(f[0] for f in FACETS))}
    )
    chunks: list[str] = field(default_factory=list)
    _pending: list[dict[str, Any]] = field(default_factory=list)

    @property
    def count(self) -> int:
        """Entries added so far."""
        return len(self.columns["id"])

    def add_record(self, record: dict[str, Any]) -> None:
        """One accepted record."""
        self._add(record, ACCEPTED, None, {})

    def add_reject(self, entry: dict[str, Any]) -> None:
        """One line of rejected.jsonl: the record it carries (or its plan) and why."""
        self._add_outcome(entry, REJECTED)

    def add_failure(self, entry: dict[str, Any]) -> None:
        """One line of failures.jsonl."""
        self._add_outcome(entry, FAILED)

    def _add_outcome(self, entry: dict[str, Any], status: str) -> None:
        data, detail = _dict(entry.get("data")), _dict(entry.get("detail"))
        record = _record_like(data, detail)
        record.setdefault("id", entry.get("id"))
        extra = {
            "reason_text": str(entry.get("reason") or "unknown"),
            "nearest_id": entry.get("nearest_id"),
            "similarity": entry.get("score"),
            "error": entry.get("message") or data.get("error") or detail.get("error"),
            "raw": _cut(entry.get("raw")),
            "attempts": entry.get("attempts") or data.get("attempts"),
        }
        reason = str(entry.get("reason") or "unknown").split(":")[0].strip() or "unknown"
        self._add(record, status, reason, {k: v for k, v in extra.items() if v is not None})

    def _add(
        self, record: dict[str, Any], status: str, reason: str | None, extra: dict[str, Any]
    ) -> None:
        entry = reader_entry(record)
        entry.update(status=status, reason=label(reason) if reason else None, **extra)
        cols = self.columns
        cols["id"].append(str(record.get("id") or record.get("dialogue_id") or f"#{self.count}"))
        cols["snippet"].append(_snippet(entry))
        cols["status"].append(status)
        cols["reason"].append(entry["reason"])
        persona = entry["persona"]
        cols["persona"].append(persona.get("id"))
        cols["features"].append(
            [f"{label(k)}: {v}" for k, v in persona.get("features", {}).items()]
        )
        scenario = entry["scenario"]
        cols["services"].append(scenario.get("services") or [])
        cols["category"].append(_plain(scenario.get("category")))
        cols["resolution"].append(scenario.get("resolution"))
        cols["user_emotions"].append(entry["arcs"].get("user") or [])
        cols["assistant_emotions"].append(entry["arcs"].get("assistant") or [])
        cols["model"].append(entry["meta"].get("model"))
        cols["end_reason"].append(_plain(entry["meta"].get("end_reason")))
        noised = any(t.get("clean") is not None for t in entry["turns"])
        cols["noised"].append("Noised" if noised else "Clean")
        cols["turns"].append(len(entry["turns"]) or None)
        cols["score"].append(entry["quality"].get("overall"))
        self._pending.append(entry)
        if len(self._pending) >= CHUNK_SIZE:
            self.flush()

    def flush(self) -> None:
        """Compress the entries waiting for a chunk."""
        if self._pending:
            packed = gzip.compress(orjson.dumps(self._pending), compresslevel=6, mtime=0)
            self.chunks.append(base64.b64encode(packed).decode("ascii"))
            self._pending = []

    def index(self) -> dict[str, Any]:
        """The compact index: categorical columns as codes into a list of values."""
        self.flush()
        encoded: dict[str, Any] = {"id": self.columns["id"], "snippet": self.columns["snippet"]}
        for name, _, kind in FACETS:
            values = self.columns[name]
            encoded[name] = values if kind == "num" else _dictionary(values, many=kind == "many")
        return {
            "count": self.count,
            "chunk_size": CHUNK_SIZE,
            "facets": [{"key": k, "label": t, "kind": kind} for k, t, kind in FACETS],
            "columns": encoded,
        }


def _dictionary(values: list[Any], *, many: bool) -> dict[str, Any]:
    """Values as small integer codes into a sorted list (-1 for none)."""
    flat = {v for row in values for v in row} if many else {v for v in values if v is not None}
    ordered = sorted(flat, key=str)
    code = {v: i for i, v in enumerate(ordered)}
    if many:
        return {"values": ordered, "codes": [[code[v] for v in row] for row in values]}
    return {"values": ordered, "codes": [-1 if v is None else code[v] for v in values]}


def _record_like(data: dict[str, Any], detail: dict[str, Any]) -> dict[str, Any]:
    """A reject's record, or the plan a failed item was given, shaped like a record."""
    if "turns" in data or "messages" in data:
        return dict(data)
    record: dict[str, Any] = {}
    for source in (detail.get("plan"), data.get("plan"), detail, data):
        if isinstance(source, dict):
            for key, value in source.items():
                record.setdefault(key, value)
    record.pop("error", None)
    return record


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _cut(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + f" … ({len(text):,} characters)"


def _plain(value: Any) -> str | None:
    return label(str(value)) if value else None


def _snippet(entry: dict[str, Any]) -> str:
    first = next((t.get("user") for t in entry["turns"] if t.get("user")), None)
    text = first or entry["scenario"].get("text") or entry.get("error") or ""
    text = " ".join(str(text).split())
    return text if len(text) <= SNIPPET_LIMIT else text[: SNIPPET_LIMIT - 1] + "…"


def reader_entry(record: dict[str, Any]) -> dict[str, Any]:
    """Everything the reader shows about one conversation, in one shape for both pipelines."""
    if "messages" in record:
        entry = _interaction_entry(record)
    else:
        entry = _dialogue_entry(record)
    scores = judge_scores(record)
    entry["quality"] = {"scores": scores, "overall": overall_score(record)}
    quality = record.get("quality")
    if isinstance(quality, dict):
        for key in ("judge_model", "model", "rationale", "passed"):
            if quality.get(key) is not None:
                entry["quality"][key] = quality[key]
    entry["id"] = str(record.get("id") or record.get("dialogue_id") or "")
    return entry


def _interaction_entry(record: dict[str, Any]) -> dict[str, Any]:
    metadata: dict[str, Any] = _dict(record.get("metadata"))
    messages = [m for m in record.get("messages") or [] if isinstance(m, dict)]
    turns: list[dict[str, Any]] = []
    for message in messages:
        meta = _dict(message.get("metadata"))
        text = str(message.get("content", ""))
        if message.get("role") == "user":
            turn: dict[str, Any] = {"user": text}
            clean = meta.get("clean_content") if meta.get("was_noised") else None
            if isinstance(clean, str) and clean != text:
                turn["clean"] = clean
                turn["noise"] = {
                    "type": _plain(meta.get("noise_type")),
                    "strategies": [label(str(s)) for s in meta.get("applied_strategies") or []],
                }
            if meta.get("followup_reason"):
                turn["note"] = _plain(meta.get("followup_reason"))
            turns.append(turn)
        elif message.get("role") == "assistant":
            if not turns or "assistant" in turns[-1]:
                turns.append({})
            turns[-1]["assistant"] = text
    model = _dict(metadata.get("assistant_model")).get("model")
    features = record.get("persona_features")
    return {
        "pipeline": "interaction",
        "persona": {
            "id": record.get("persona_id"),
            "features": features if isinstance(features, dict) else {},
        },
        "scenario": {
            "query": record.get("original_query"),
            "text": record.get("original_query"),
        },
        "arcs": {},
        "turns": turns,
        "meta": {
            "model": model,
            "end_reason": metadata.get("end_reason"),
            "target_turns": metadata.get("target_turns"),
            "attempts": metadata.get("attempts"),
            "sampling": metadata.get("assistant_sampling"),
            "distractor": metadata.get("distractor_type"),
            "created_at": metadata.get("created_at"),
        },
    }


def _dialogue_entry(record: dict[str, Any]) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    for raw in record.get("turns") or []:
        if not isinstance(raw, dict):
            continue
        clean = str(raw.get("user_utterance", ""))
        noisy = raw.get("noisy_user_utterance")
        turn: dict[str, Any] = {
            "user": noisy if isinstance(noisy, str) and noisy else clean,
            "assistant": str(raw.get("assistant_response", "")),
            "intent": raw.get("intent"),
            "user_emotion": raw.get("user_emotion"),
            "assistant_emotion": raw.get("assistant_emotion"),
        }
        state = raw.get("state") or raw.get("dialogue_state")
        if isinstance(state, dict) and state:
            turn["state"] = state
        if isinstance(noisy, str) and noisy and noisy != clean:
            versions = [v for v in raw.get("noise") or [] if isinstance(v, dict)]
            first = versions[0] if versions else {}
            turn["clean"] = clean
            turn["noise"] = {
                "type": _plain(first.get("noise_type")),
                "strategies": [label(str(s)) for s in first.get("applied_strategies") or []],
            }
        if raw.get("noise_error"):
            turn["note"] = f"no noise: {raw['noise_error']}"
        turns.append(turn)
    services = record.get("services")
    regions = record.get("regions")
    cluster = record.get("persona_cluster")
    return {
        "pipeline": "dialogue",
        "persona": {
            "id": record.get("persona_id")
            or (record.get("persona") and str(record["persona"])[:40]),
            "text": record.get("persona"),
            "features": {} if cluster is None else {"persona_cluster": str(cluster)},
        },
        "scenario": {
            "category": record.get("scenario_category"),
            "text": record.get("generated_scenario"),
            "services": [str(s) for s in services] if isinstance(services, list) else [],
            "regions": regions if isinstance(regions, list) else [regions] if regions else [],
            "time": " ".join(str(v) for v in (record.get("time_slot"), record.get("time")) if v),
            "resolution": record.get("resolution_status"),
            "goal": record.get("goal") if isinstance(record.get("goal"), dict) else None,
        },
        "arcs": {
            "user": [str(e) for e in record.get("user_emotions") or []],
            "assistant": [str(e) for e in record.get("assistant_emotions") or []],
        },
        "turns": turns,
        "meta": {
            "model": record.get("model"),
            "attempts": record.get("attempts") or record.get("generation_attempts"),
            "sampling": record.get("generation_params"),
            "base_dialogue": record.get("base_dialogue_id"),
            "created_at": record.get("created_at"),
        },
    }
