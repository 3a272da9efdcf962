"""One shape for records of either pipeline: who said what, and the attributes we count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INTERACTION = "interaction"
DIALOGUE = "dialogue"


@dataclass
class NoisyVersion:
    """One noisy rewrite of a clean user turn, with its edit log when the distractor kept one."""

    clean: str
    noisy: str
    noise_type: str
    strategies: list[str]
    edits: list[dict[str, Any]]


@dataclass
class RecordView:
    """The parts of a record the report measures."""

    pipeline: str
    user_turns: list[str]
    assistant_turns: list[str]
    attributes: dict[str, list[str]] = field(default_factory=dict)
    noisy: list[NoisyVersion] = field(default_factory=list)
    attempts: int | None = None
    missing: list[str] = field(default_factory=list)


def view_record(record: dict[str, Any]) -> RecordView:
    """Recognise the pipeline from the record's fields and extract what we count."""
    if "messages" in record:
        return _interaction_view(record)
    return _dialogue_view(record)


def _attempts(record: dict[str, Any]) -> int | None:
    for holder in (record, record.get("metadata") or {}):
        for key in ("attempts", "generation_attempts"):
            value = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(value, int):
                return value
    return None


def _dialogue_view(record: dict[str, Any]) -> RecordView:
    turns = [t for t in record.get("turns") or [] if isinstance(t, dict)]
    view = RecordView(
        pipeline=DIALOGUE,
        user_turns=[str(t.get("user_utterance", "")) for t in turns],
        assistant_turns=[str(t.get("assistant_response", "")) for t in turns],
        attempts=_attempts(record),
    )
    services = record.get("services")
    if isinstance(services, list):
        view.attributes["services"] = [str(s) for s in services]
        count = record.get("service_count") or _COUNT_NAMES.get(len(services))
        view.attributes["service_count"] = [str(count)]
    persona_cluster = record.get("persona_cluster")
    for key, value in (
        ("scenario_category", record.get("scenario_category")),
        ("resolution_status", record.get("resolution_status")),
        ("model", record.get("model")),
        ("persona_cluster", None if persona_cluster is None else str(persona_cluster)),
        ("num_turns", str(len(turns)) if turns else None),
    ):
        _put(view, key, value)
    regions = record.get("regions")
    _put(view, "regions", regions if isinstance(regions, list) else regions)
    _put(view, "time_slot", _time_slot_name(record.get("time_slot")))
    _put(view, "user_emotions", record.get("user_emotions"))
    _put(view, "assistant_emotions", record.get("assistant_emotions"))
    for turn in turns:
        clean = str(turn.get("user_utterance", ""))
        for version in turn.get("noise") or []:
            if isinstance(version, dict):
                view.noisy.append(_noisy_version(clean, version))
    _tally_noise_attributes(view)
    return view


_COUNT_NAMES = {1: "single", 2: "double", 3: "triple", 4: "quadruple"}


def _time_slot_name(value: Any) -> str | None:
    if isinstance(value, dict):
        name = value.get("name") or value.get("slot")
        return str(name) if name else None
    return str(value).split(" (")[0] if value else None


def _put(view: RecordView, key: str, value: Any) -> None:
    if value is None or value == []:
        view.missing.append(key)
        return
    if isinstance(value, list):
        view.attributes[key] = [str(v) for v in value]
    else:
        view.attributes[key] = [str(value)]


def _interaction_view(record: dict[str, Any]) -> RecordView:
    messages = [m for m in record.get("messages") or [] if isinstance(m, dict)]
    metadata = record.get("metadata") or {}
    view = RecordView(
        pipeline=INTERACTION,
        user_turns=[str(m.get("content", "")) for m in messages if m.get("role") == "user"],
        assistant_turns=[
            str(m.get("content", "")) for m in messages if m.get("role") == "assistant"
        ],
        attempts=_attempts(record),
    )
    model = (metadata.get("assistant_model") or {}).get("model") if metadata else None
    _put(view, "model", model)
    _put(view, "num_turns", str(record.get("num_turns")) if record.get("num_turns") else None)
    _put(view, "persona", record.get("persona_id"))
    for key, value in (record.get("persona_features") or {}).items():
        view.attributes[f"persona.{key}"] = [str(value)]
    _collect_interaction_noise(view, metadata)
    return view


def _collect_interaction_noise(view: RecordView, metadata: dict[str, Any]) -> None:
    for clean, version in _noise_entries(metadata.get("noisy_versions") or {}):
        view.noisy.append(_noisy_version(clean, version))
    _tally_noise_attributes(view)


def _noisy_version(clean: str, version: dict[str, Any]) -> NoisyVersion:
    return NoisyVersion(
        clean=clean,
        noisy=str(version.get("noisy_text", "")),
        noise_type=str(version.get("noise_type", "")),
        strategies=[str(s) for s in version.get("applied_strategies") or []],
        edits=[e for e in version.get("edits") or [] if isinstance(e, dict)],
    )


def _tally_noise_attributes(view: RecordView) -> None:
    if view.noisy:
        view.attributes["noise_layer"] = [v.noise_type for v in view.noisy]
        view.attributes["noise_strategy"] = [s for v in view.noisy for s in v.strategies]


def _noise_entries(noisy_versions: Any) -> list[tuple[str, dict[str, Any]]]:
    """(clean text, version) pairs from the spec's map, whose values may be lists of turns."""
    groups = noisy_versions.values() if isinstance(noisy_versions, dict) else [noisy_versions]
    pairs = []
    for group in groups:
        for item in group if isinstance(group, list) else [group]:
            if not isinstance(item, dict):
                continue
            clean = item.get("clean_query") or item.get("clean_text") or item.get("clean") or ""
            for version in item.get("noisy_versions") or []:
                if isinstance(version, dict):
                    pairs.append((str(clean), version))
    return pairs
