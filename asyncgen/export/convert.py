"""Turn one run record (interaction or dialogue) into training samples.

User turns come in two variants: the clean text and the distractor's noisy text. A sample
uses one variant throughout; `both` yields a second, noisy sample only when the record
was really noised (an identical twin would only duplicate training data).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from asyncgen.errors import DatasetError
from asyncgen.export.sample import TrainingSample

UserTurns = Literal["clean", "noisy", "both"]
RecordKind = Literal["interaction", "dialogue"]
NOISY_SUFFIX = "-noisy"
_CLEAN_KEYS = ("clean_content", "clean_text", "original_content")
_NOISY_KEYS = ("noisy_content", "noisy_text")


@dataclass(frozen=True)
class ConvertOptions:
    """How records become samples."""

    user_turns: UserTurns = "clean"
    include_noisy_versions: bool = True


@dataclass(frozen=True)
class _Turns:
    """A conversation with both variants of every user turn."""

    roles: list[str]
    clean: list[str]
    noisy: list[str]

    def add(self, role: str, clean: str, noisy: str | None = None) -> None:
        """Append a message: its clean text, and the noisy one when it differs."""
        self.roles.append(role)
        self.clean.append(clean)
        self.noisy.append(clean if noisy is None else noisy)

    @property
    def is_noised(self) -> bool:
        return self.clean != self.noisy

    def messages(self, noisy: bool) -> list[dict[str, str]]:
        texts = self.noisy if noisy else self.clean
        return [{"role": r, "content": t} for r, t in zip(self.roles, texts, strict=True)]

    def user_texts(self, noisy: bool) -> list[str]:
        texts = self.noisy if noisy else self.clean
        return [t for r, t in zip(self.roles, texts, strict=True) if r == "user"]


def record_kind(record: Mapping[str, Any]) -> RecordKind:
    """Which pipeline wrote a record, from its shape.

    Raises:
        DatasetError: the record is neither an interaction nor a dialogue.
    """
    if isinstance(record.get("messages"), list):
        return "interaction"
    if isinstance(record.get("turns"), list):
        return "dialogue"
    raise DatasetError("record has neither 'messages' (interaction) nor 'turns' (dialogue)")


def record_samples(record: Mapping[str, Any], options: ConvertOptions) -> list[TrainingSample]:
    """All samples one record yields under the options (one, or two for `both`).

    Raises:
        DatasetError: the record does not have the documented shape.
    """
    if record_kind(record) == "interaction":
        turns = _interaction_turns(record)
        build = _interaction_sample
    else:
        turns = _dialogue_turns(record)
        build = _dialogue_sample
    if not turns.roles:
        raise DatasetError("record has an empty conversation")
    if options.user_turns == "clean" or not turns.is_noised:
        return [build(record, turns, False, options)]
    if options.user_turns == "noisy":
        return [build(record, turns, True, options)]
    return [build(record, turns, False, options), build(record, turns, True, options)]


def group_keys(record: Mapping[str, Any]) -> list[str]:
    """The keys that must never be split apart: persona, and a dialogue's base dialogue."""
    return _group_keys(persona_id_of(record), record.get("base_dialogue_id"))


def sample_group_keys(sample: TrainingSample) -> list[str]:
    """`group_keys` recovered from a sample (its persona and base dialogue)."""
    return _group_keys(sample.persona_id, sample.metadata.get("base_dialogue_id"))


def _group_keys(persona_id: str, base: Any) -> list[str]:
    return [f"persona:{persona_id}"] + ([f"base:{base}"] if base not in (None, "") else [])


def persona_id_of(record: Mapping[str, Any]) -> str:
    """The record's persona id; a dialogue persona without one gets a content hash."""
    pid = record.get("persona_id")
    if pid not in (None, ""):
        return str(pid)
    persona = record.get("persona")
    if isinstance(persona, Mapping) and persona.get("id") not in (None, ""):
        return str(persona["id"])
    if persona:
        text = persona.get("persona", persona) if isinstance(persona, Mapping) else persona
        return "persona_" + hashlib.sha256(str(text).encode()).hexdigest()[:12]
    rid = record.get("interaction_id") or record.get("dialogue_id") or record.get("id")
    return f"unknown_{rid}"


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise DatasetError(f"{where} must be text, got {type(value).__name__}")
    return value


def _first_str(meta: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _initial_noisy_versions(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spec's metadata.noisy_versions.initial_query.noisy_versions list."""
    versions = (record.get("metadata") or {}).get("noisy_versions") or {}
    initial = versions.get("initial_query") if isinstance(versions, Mapping) else None
    found = initial.get("noisy_versions") if isinstance(initial, Mapping) else None
    return [dict(v) for v in found if isinstance(v, Mapping)] if isinstance(found, list) else []


def _interaction_user_variants(
    message: Mapping[str, Any], record: Mapping[str, Any], is_first: bool
) -> tuple[str, str]:
    """(clean, noisy) text of one user message; noisy == clean when it was not noised."""
    content = _text(message.get("content"), "message content")
    meta = message.get("metadata") or {}
    clean = _first_str(meta, _CLEAN_KEYS)
    noisy = _first_str(meta, _NOISY_KEYS)
    if meta.get("was_noised"):
        noisy = noisy or content
        initial = record.get("initial_query")
        if clean is None and is_first and isinstance(initial, str) and initial != content:
            clean = initial
        return clean or content, noisy
    if noisy is None and is_first:
        versions = _initial_noisy_versions(record)
        noisy = versions[0].get("noisy_text") if versions else None
    return clean or content, noisy if isinstance(noisy, str) and noisy else (clean or content)


def _interaction_turns(record: Mapping[str, Any]) -> _Turns:
    turns = _Turns([], [], [])
    for message in record["messages"]:
        if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
            raise DatasetError("every message needs role 'user' or 'assistant'")
        if message["role"] == "user":
            is_first = "user" not in turns.roles
            turns.add("user", *_interaction_user_variants(message, record, is_first=is_first))
        else:
            turns.add("assistant", _text(message.get("content"), "message content"))
    return turns


def _dialogue_turns(record: Mapping[str, Any]) -> _Turns:
    turns = _Turns([], [], [])
    for turn in record["turns"]:
        if not isinstance(turn, Mapping):
            raise DatasetError("every dialogue turn must be an object")
        user = _text(turn.get("user_utterance"), "turn user_utterance")
        noisy_user = turn.get("noisy_user_utterance")
        turns.add("user", user, noisy_user if isinstance(noisy_user, str) and noisy_user else None)
        answer = turn.get("assistant_response")
        if isinstance(answer, str) and answer:
            turns.add("assistant", answer)
    return turns


def _sample_id(base: Any, noisy: bool) -> str:
    return f"sample_{base}{NOISY_SUFFIX if noisy else ''}"


def _interaction_sample(
    record: Mapping[str, Any], turns: _Turns, noisy: bool, options: ConvertOptions
) -> TrainingSample:
    meta = record.get("metadata") or {}
    trajectory = turns.user_texts(noisy)
    iid = record.get("interaction_id") or record.get("id")
    original = record.get("original_query")
    return TrainingSample(
        sample_id=_sample_id(iid, noisy),
        persona_id=persona_id_of(record),
        persona_features=dict(record.get("persona_features") or {}),
        original_query=original if isinstance(original, str) else turns.clean[0],
        initial_query=trajectory[0] if trajectory else "",
        prompt_trajectory=trajectory,
        full_conversation=turns.messages(noisy),
        num_turns=int(record.get("num_turns") or len(trajectory)),
        noisy_initial_queries=_initial_noisy_versions(record)
        if options.include_noisy_versions
        else [],
        metadata={
            **_head(record, "interaction", iid, noisy, turns, meta.get("distractor_applied")),
            **{k: meta[k] for k in _INTERACTION_META if k in meta},
            **({"simulated": True} if record.get("simulated") else {}),
            **_status(record),
        },
    )


def _head(
    record: Mapping[str, Any], source: str, ident: Any, noisy: bool, turns: _Turns, flagged: Any
) -> dict[str, Any]:
    """The metadata every sample opens with: its ids, source, user-turn variant, noise flag."""
    return {
        f"{source}_id": ident,
        "record_id": record.get("id", ident),
        "source": source,
        "user_turns": "noisy" if noisy else "clean",
        "distractor_applied": bool(flagged) or turns.is_noised,
    }


_INTERACTION_META = ("distractor_type", "assistant_model", "query_id", "created_at", "target_turns")
_DIALOGUE_META = (
    "base_dialogue_id", "services", "service_count", "scenario_category", "resolution_status",
    "user_emotions", "assistant_emotions", "regions", "time_slot", "model", "created_at",
    "distractor_type",
)  # fmt: skip


def _dialogue_noisy_versions(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The first user turn's noisy versions (`noise`), or the one it was sent with."""
    first = record["turns"][0]
    versions = first.get("noise")
    if isinstance(versions, list) and versions:
        return [dict(v) for v in versions if isinstance(v, Mapping)]
    noisy = first.get("noisy_user_utterance")
    if not isinstance(noisy, str) or not noisy or noisy == first.get("user_utterance"):
        return []
    return [
        {
            "noisy_text": noisy,
            "noise_type": first.get("noise_type", "surface_noise"),
            "applied_strategies": list(first.get("applied_strategies") or []),
        }
    ]


def _dialogue_persona(record: Mapping[str, Any]) -> dict[str, Any]:
    persona = record.get("persona")
    features = dict(persona) if isinstance(persona, Mapping) else {"persona": persona or ""}
    if record.get("persona_cluster") is not None:
        features.setdefault("cluster", record["persona_cluster"])
    return features


def _dialogue_sample(
    record: Mapping[str, Any], turns: _Turns, noisy: bool, options: ConvertOptions
) -> TrainingSample:
    trajectory = turns.user_texts(noisy)
    did = record.get("dialogue_id") or record.get("id")
    intents = [t.get("intent") for t in record["turns"] if isinstance(t, Mapping)]
    return TrainingSample(
        sample_id=_sample_id(did, noisy),
        persona_id=persona_id_of(record),
        persona_features=_dialogue_persona(record),
        original_query=turns.clean[0],
        initial_query=trajectory[0],
        prompt_trajectory=trajectory,
        full_conversation=turns.messages(noisy),
        num_turns=len(record["turns"]),
        noisy_initial_queries=_dialogue_noisy_versions(record)
        if options.include_noisy_versions
        else [],
        metadata={
            **_head(record, "dialogue", did, noisy, turns, record.get("distractor_applied")),
            "intents": intents,
            **{k: record[k] for k in _DIALOGUE_META if k in record},
            **({"simulated": True} if record.get("simulated") else {}),
            **_grounding(record),
            **_status(record),
        },
    )


def _grounding(record: Mapping[str, Any]) -> dict[str, Any]:
    """A goal-grounded dialogue's goal and the state after each user turn (for `dst`)."""
    goal = record.get("goal")
    if not isinstance(goal, Mapping):
        return {}
    states = [t.get("state") if isinstance(t, Mapping) else None for t in record["turns"]]
    return {"goal": dict(goal), "dialogue_states": states}


def _status(record: Mapping[str, Any]) -> dict[str, Any]:
    """Marks a sample recovered from rejected.jsonl (kept only when asked)."""
    reason = record.get("_rejected_reason")
    return {"status": "rejected", "reject_reason": reason} if reason else {}
