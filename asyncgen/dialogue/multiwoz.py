"""MultiWOZ v2.2 base dialogues: load, validate, extract and format them as the report does.

Rows follow the published schema: `dialogue_id`, `services`, and `turns` with `turn_id`,
`speaker` (0 = user, 1 = system, or the strings "USER"/"SYSTEM" of the original JSON),
`utterance`, and `frames` / `dialogue_acts` when present. `turns` may be the Hugging Face
column layout (a dict of lists) or a list of per-turn dicts.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, TypedDict

from asyncgen.personas.tables import Row, field_error, load_table

log = logging.getLogger(__name__)

SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "multiwoz_sample.jsonl"
SPEAKERS = {0: "USER", 1: "ASSISTANT"}
_SPEAKER_NAMES = {"USER": 0, "SYSTEM": 1, "ASSISTANT": 1}


@dataclass(frozen=True)
class BaseTurn:
    """One utterance of a base dialogue."""

    turn_id: str
    speaker: int
    utterance: str
    frames: Any = None
    dialogue_acts: Any = None


@dataclass(frozen=True)
class BaseDialogue:
    """One validated MultiWOZ dialogue and where it came from."""

    dialogue_id: str
    services: tuple[str, ...]
    turns: tuple[BaseTurn, ...]
    source: str = ""
    row: int = 0
    conversation_hash: str = field(default="", compare=False)


@dataclass
class MultiWOZDataset:
    """The base dialogues of a run, in file order, with their SHA-256 hashes."""

    source: str
    dialogues: list[BaseDialogue]

    def __len__(self) -> int:
        return len(self.dialogues)

    def __getitem__(self, index: int) -> BaseDialogue:
        return self.dialogues[index]

    def unique_indices(self) -> list[int]:
        """Indices of the first dialogue with each base-conversation hash (repeats skipped)."""
        seen: set[str] = set()
        keep: list[int] = []
        for i, dialogue in enumerate(self.dialogues):
            if dialogue.conversation_hash not in seen:
                seen.add(dialogue.conversation_hash)
                keep.append(i)
        return keep

    def fingerprint(self) -> str:
        """A short digest of every dialogue's hash, so a resume notices a changed dataset."""
        digest = hashlib.sha256()
        for dialogue in self.dialogues:
            digest.update(dialogue.conversation_hash.encode())
        return digest.hexdigest()[:16]


def load_multiwoz(path: str | Path | None = None, split: str = "train") -> MultiWOZDataset:
    """Load and validate base dialogues; `None` loads the packaged sample.

    Raises:
        DatasetError: the file is unreadable or a row breaks the schema (file, row, field).
    """
    target = Path(path) if path is not None else SAMPLE_PATH
    dialogues = load_table(target, split, parse_row, what="dialogues")
    return MultiWOZDataset(source=str(target), dialogues=dialogues)


def parse_row(row: Row) -> BaseDialogue:
    """Validate one raw row into a `BaseDialogue`.

    Raises:
        DatasetError: naming the file, row and field at fault.
    """
    source, number, data = row
    fail = partial(field_error, row)

    dialogue_id = data.get("dialogue_id")
    if not isinstance(dialogue_id, str) or not dialogue_id:
        raise fail("dialogue_id", "missing or not a non-empty string")
    services = data.get("services")
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise fail("services", "missing or not a list of strings")
    if "turns" not in data:
        raise fail("turns", "missing")
    turns = _turns(data["turns"], fail)
    base = BaseDialogue(dialogue_id, tuple(services), turns, source, number)
    text = generate_base_conversation(_turn_dicts(base))
    return BaseDialogue(dialogue_id, tuple(services), turns, source, number, sha256_text(text))


def _turns(raw: Any, fail: Any) -> tuple[BaseTurn, ...]:
    columns = _as_columns(raw, fail)
    utterances = columns.get("utterance")
    speakers = columns.get("speaker")
    if utterances is None:
        raise fail("turns.utterance", "missing")
    if speakers is None:
        raise fail("turns.speaker", "missing")
    if not utterances:
        raise fail("turns", "empty: a dialogue needs at least one turn")
    if len(speakers) != len(utterances):
        raise fail("turns.speaker", f"{len(speakers)} speakers for {len(utterances)} utterances")
    ids = columns.get("turn_id") or [str(i) for i in range(len(utterances))]
    frames = columns.get("frames") or [None] * len(utterances)
    acts = columns.get("dialogue_acts") or [None] * len(utterances)
    out = []
    for i, (speaker, utterance) in enumerate(zip(speakers, utterances, strict=True)):
        if not isinstance(utterance, str) or not utterance.strip():
            raise fail(f"turns.utterance[{i}]", "missing or empty")
        code = _speaker(speaker)
        if code is None:
            raise fail(f"turns.speaker[{i}]", f"{speaker!r} is not 0/1 or USER/SYSTEM")
        turn_frames = frames[i] if i < len(frames) else None
        turn_acts = acts[i] if i < len(acts) else None
        out.append(BaseTurn(str(ids[i]), code, utterance.strip(), turn_frames, turn_acts))
    return tuple(out)


def _as_columns(raw: Any, fail: Any) -> dict[str, list[Any]]:
    """Both layouts as a dict of lists."""
    if isinstance(raw, dict):
        bad = [k for k, v in raw.items() if not isinstance(v, list)]
        if bad:
            raise fail(f"turns.{bad[0]}", "expected a list (column layout)")
        return raw
    if isinstance(raw, list):
        if not all(isinstance(t, dict) for t in raw):
            raise fail("turns", "expected a list of turn objects")
        names = {"turn_id", "speaker", "utterance", "frames", "dialogue_acts"}
        columns: dict[str, list[Any]] = {}
        for name in names:
            if any(name in t for t in raw) or name in {"speaker", "utterance"}:
                if name in {"speaker", "utterance"} and raw and any(name not in t for t in raw):
                    index = next(i for i, t in enumerate(raw) if name not in t)
                    raise fail(f"turns[{index}].{name}", "missing")
                columns[name] = [t.get(name) for t in raw]
        return columns
    raise fail("turns", "expected a dict of lists or a list of turns")


def _speaker(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value in (0, 1) else None
    if isinstance(value, str):
        return _SPEAKER_NAMES.get(value.strip().upper())
    return None


class TurnDict(TypedDict):
    """One turn of a base conversation as the report's `extract_dialogue` returns it."""

    turn_id: str
    speaker: str
    """"USER", "ASSISTANT" (or "UNKNOWN")."""
    utterance: str


def _turn_dicts(dialogue: BaseDialogue) -> list[TurnDict]:
    return [
        {
            "turn_id": t.turn_id,
            "speaker": SPEAKERS.get(t.speaker, "UNKNOWN"),
            "utterance": t.utterance,
        }
        for t in dialogue.turns
    ]


def extract_dialogue(dialogue_json: dict[str, Any] | BaseDialogue) -> list[TurnDict]:
    """The report's `extract_dialogue`: turns as `{turn_id, speaker, utterance}` dicts.

    Speakers map 0 → "USER", 1 → "ASSISTANT"; a raw row is validated first.

    Raises:
        DatasetError: a raw row breaks the schema.
    """
    dialogue = (
        dialogue_json
        if isinstance(dialogue_json, BaseDialogue)
        else parse_row(("<dialogue>", 0, dialogue_json))
    )
    turns = _turn_dicts(dialogue)
    log.debug("extracted %d turns from dialogue %s", len(turns), dialogue.dialogue_id)
    return turns


def generate_base_conversation(turns: list[TurnDict]) -> str:
    """The report's `generate_base_conversation`: "SPEAKER: utterance" lines."""
    return "\n".join(f"{t['speaker']}: {t['utterance']}" for t in turns)


ANONYMIZE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "[EMAIL]"),
    (re.compile(r"(?<![\w:])\+?\d(?:[\d -]{6,}\d)(?![\w:])"), "[PHONE]"),
    (re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b"), "[POSTCODE]"),
    (re.compile(r"\b(?=[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9][A-Z0-9-]{4,11}\b"), "[REFERENCE]"),
)


@lru_cache(maxsize=256)  # runs reuse base dialogues (the sample has 50): mask each once
def anonymize(text: str) -> str:
    """Mask emails, phone numbers, postcodes and booking references in a base conversation.

    The report anonymizes base dialogues before they reach the model; these are the
    personal and booking identifiers MultiWOZ utterances carry. Names of places and
    venues stay: they are the scenario, not personal data.
    """
    for pattern, mask in ANONYMIZE_PATTERNS:
        text = pattern.sub(mask, text)
    return text


def sha256_text(text: str) -> str:
    """SHA-256 hex digest of a base conversation (exact uniqueness)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dialogue_states(dialogue: BaseDialogue) -> list[dict[str, dict[str, str]]]:
    """The dialogue state after each user turn (service → slot → value), from its frames.

    Reads both MultiWOZ 2.2 layouts: Hugging Face `multi_woz_v22` (a turn's `frames` is
    `{service: [...], state: [{slots_values: {slots_values_name, slots_values_list}}]}`,
    lists aligned by service) and the original JSON (`frames` is a list of
    `{service, state: {slot_values: {"restaurant-area": ["centre"]}}}`). Slot names lose
    their service prefix; a slot's first value is kept. A user turn without frames
    repeats the state before it.
    """
    states: list[dict[str, dict[str, str]]] = []
    current: dict[str, dict[str, str]] = {}
    for turn in dialogue.turns:
        if turn.speaker != 0:
            continue
        found = _frame_state(turn.frames)
        if found is not None:
            current = found
        states.append({service: dict(slots) for service, slots in current.items()})
    return states


def dialogue_goal(dialogue: BaseDialogue) -> dict[str, dict[str, str]]:
    """The user's goal: the last annotated state, per service with at least one slot."""
    states = dialogue_states(dialogue)
    final = states[-1] if states else {}
    return {service: slots for service, slots in final.items() if slots}


def _frame_state(frames: Any) -> dict[str, dict[str, str]] | None:
    if isinstance(frames, dict):  # Hugging Face: lists aligned by service
        services, states = frames.get("service") or [], frames.get("state") or []
        if not states:
            return None
        pairs = zip(services, states, strict=False)
        return {str(s): _slots(state.get("slots_values")) for s, state in pairs}
    if isinstance(frames, list):  # the original JSON: one frame per service
        found = {}
        for frame in frames:
            if isinstance(frame, dict) and isinstance(frame.get("state"), dict):
                found[str(frame.get("service"))] = _slots(frame["state"].get("slot_values"))
        return found or None
    return None


def _slots(raw: Any) -> dict[str, str]:
    """`{slots_values_name, slots_values_list}` or `{name: [values]}` as slot → first value."""
    if not isinstance(raw, dict):
        return {}
    items: list[tuple[Any, Any]] = (
        list(
            zip(
                raw.get("slots_values_name") or [], raw.get("slots_values_list") or [], strict=False
            )
        )
        if "slots_values_name" in raw
        else list(raw.items())
    )
    slots: dict[str, str] = {}
    for name, values in items:
        value = values[0] if isinstance(values, list) and values else values
        if isinstance(value, str | int) and str(value).strip():
            slots[str(name).split("-", 1)[-1]] = str(value).strip()
    return slots
