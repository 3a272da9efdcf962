"""The conversation browser's data: a compact index to filter, and full entries in chunks.

Every record, reject and failure of a run is offered to a seeded uniform reservoir per
outcome (`SAMPLE_LIMITS`), so the browser's memory and the page's size stay bounded
whatever n is: a run with more entries shows a sample of them, in file order, and says
so; the figures on the other tabs count every entry. The index holds only what
filters and the list need (a few small columns, categorical values dictionary-coded);
the reader's full entries are gzip-compressed in chunks of `CHUNK_SIZE`, so a page over
10,000 conversations parses a small index at once and inflates one chunk per opened
conversation. A noised turn keeps its clean and sent text; the page diffs the two words
when the conversation is opened (difflib over every turn of 10,000 records cost seconds).
"""

from __future__ import annotations

import base64
import gzip
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from asyncgen.report.labels import label

CHUNK_SIZE = 200
RAW_LIMIT = 6000
SNIPPET_LIMIT = 160
ACCEPTED, REJECTED, FAILED = "Accepted", "Rejected", "Failed"
# entries the browser keeps per outcome (about 3 KB each, compressed at the end)
SAMPLE_LIMITS = {ACCEPTED: 5000, REJECTED: 1000, FAILED: 1000}

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
class _Sample:
    """A seeded uniform reservoir (Algorithm R) of packed entries for one outcome."""

    limit: int
    rng: random.Random
    seen: int = 0
    kept: list[tuple[int, bytes]] = field(default_factory=list)

    def slot(self) -> int | None:
        """Where the next offered entry goes (len(kept) appends), or None to skip it."""
        self.seen += 1
        if len(self.kept) < self.limit:
            return len(self.kept)
        slot = self.rng.randrange(self.seen)
        return slot if slot < self.limit else None


@dataclass
class BrowserData:
    """A bounded sample of entries per outcome; index columns and chunks built at the end."""

    seed: int = 0
    limits: dict[str, int] = field(default_factory=lambda: dict(SAMPLE_LIMITS))
    _samples: dict[str, _Sample] = field(default_factory=dict)
    _arrivals: int = 0
    _built: tuple[dict[str, list[Any]], list[str]] | None = None

    def __post_init__(self) -> None:
        self.limits = {**SAMPLE_LIMITS, **self.limits}
        self._samples = {
            status: _Sample(limit, random.Random(f"{self.seed}:{status}"))
            for status, limit in self.limits.items()
        }

    @property
    def count(self) -> int:
        """Entries the page holds (the sample)."""
        return sum(len(s.kept) for s in self._samples.values())

    @property
    def total(self) -> int:
        """Entries offered: every record, reject and failure read."""
        return sum(s.seen for s in self._samples.values())

    @property
    def sampled(self) -> dict[str, tuple[int, int]]:
        """Per outcome with more entries than its limit: (kept, seen)."""
        return {
            status: (len(s.kept), s.seen)
            for status, s in self._samples.items()
            if s.seen > len(s.kept)
        }

    @property
    def chunks(self) -> list[str]:
        """The gzip+base64 chunks of full entries, `CHUNK_SIZE` per chunk, in index order."""
        return self._build()[1]

    def add_record(self, record: dict[str, Any]) -> None:
        """One accepted record."""
        slot = self._slot(ACCEPTED)
        if slot is not None:
            self._keep(ACCEPTED, slot, record, None, {})

    def add_reject(self, entry: dict[str, Any]) -> None:
        """One line of rejected.jsonl: the record it carries (or its plan) and why."""
        self._add_outcome(entry, REJECTED)

    def add_failure(self, entry: dict[str, Any]) -> None:
        """One line of failures.jsonl."""
        self._add_outcome(entry, FAILED)

    def _slot(self, status: str) -> int | None:
        self._arrivals += 1
        self._built = None
        return self._samples[status].slot()

    def _add_outcome(self, entry: dict[str, Any], status: str) -> None:
        slot = self._slot(status)
        if slot is None:
            return
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
        extra = {k: v for k, v in extra.items() if v is not None}
        self._keep(status, slot, record, reason, extra)

    def _keep(
        self,
        status: str,
        slot: int,
        record: dict[str, Any],
        reason: str | None,
        extra: dict[str, Any],
    ) -> None:
        entry = reader_entry(record)
        entry.update(status=status, reason=label(reason) if reason else None, **extra)
        packed = (self._arrivals, orjson.dumps(entry))
        kept = self._samples[status].kept
        if slot == len(kept):
            kept.append(packed)
        else:
            kept[slot] = packed

    def _build(self) -> tuple[dict[str, list[Any]], list[str]]:
        """Columns and chunks of the kept entries, in the order they were read."""
        if self._built is not None:
            return self._built
        cols: dict[str, list[Any]] = {
            name: [] for name in ("id", "snippet", *(f[0] for f in FACETS))
        }
        chunks: list[str] = []
        pending: list[dict[str, Any]] = []
        ordered = sorted(item for s in self._samples.values() for item in s.kept)
        for arrival, packed in ordered:
            entry = orjson.loads(packed)
            _add_columns(cols, entry, entry["id"] or f"#{arrival - 1}")
            pending.append(entry)
            if len(pending) >= CHUNK_SIZE:
                chunks.append(_pack(pending))
                pending = []
        if pending:
            chunks.append(_pack(pending))
        self._built = (cols, chunks)
        return self._built

    def index(self) -> dict[str, Any]:
        """The compact index: categorical columns as codes into a list of values."""
        columns = self._build()[0]
        encoded: dict[str, Any] = {"id": columns["id"], "snippet": columns["snippet"]}
        for name, _, kind in FACETS:
            values = columns[name]
            encoded[name] = values if kind == "num" else _dictionary(values, many=kind == "many")
        return {
            "count": self.count,
            "total": self.total,
            "chunk_size": CHUNK_SIZE,
            "facets": [{"key": k, "label": t, "kind": kind} for k, t, kind in FACETS],
            "columns": encoded,
        }


def _pack(entries: list[dict[str, Any]]) -> str:
    packed = gzip.compress(orjson.dumps(entries), compresslevel=6, mtime=0)
    return base64.b64encode(packed).decode("ascii")


def _add_columns(cols: dict[str, list[Any]], entry: dict[str, Any], list_id: str) -> None:
    """One entry's row of the index columns."""
    cols["id"].append(list_id)
    cols["snippet"].append(_snippet(entry))
    cols["status"].append(entry["status"])
    cols["reason"].append(entry["reason"])
    persona = entry["persona"]
    cols["persona"].append(persona.get("id"))
    cols["features"].append([f"{label(k)}: {v}" for k, v in persona.get("features", {}).items()])
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
