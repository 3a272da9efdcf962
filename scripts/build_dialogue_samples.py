"""Build the packaged dialogue samples from their hand-written sources.

    .venv/bin/python scripts/build_dialogue_samples.py

Writes asyncgen/data/multiwoz_sample.jsonl (MultiWOZ v2.2 schema, Hugging Face column
layout: `turns` is a dict of lists) and asyncgen/data/finepersonas_sample.jsonl
(FinePersonas-v0.1-clustering-100k schema).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = Path(__file__).resolve().parent / "dialogue_samples"
DATA = ROOT / "asyncgen" / "data"


def _blocks(path: Path) -> list[tuple[str, list[str]]]:
    blocks: list[tuple[str, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("== "):
            blocks.append((line[3:].strip(), []))
        else:
            blocks[-1][1].append(line.strip())
    return blocks


_NUMBER = r"(\d+|two|three|four|five|six|seven|eight|nine|ten)"
_SERVICE_WORDS = {
    "restaurant": ("restaurant", "eat", "table", "food", "dinner", "lunch", "menu"),
    "hotel": ("hotel", "room", "stay", "night", "guesthouse", "check in", "check-in"),
    "train": ("train",),
    "taxi": ("taxi", "cab", "pick me up", "pick us up", "driver"),
    "bus": ("bus", "coach"),
    "flight": ("flight", "fly", "plane", "airport"),
    "attraction": ("museum", "visit", "attraction", "gallery", "park", "see "),
    "hospital": ("hospital", "doctor", "department", "clinic", "ward"),
}
_PATTERNS: dict[str, list[tuple[str, str]]] = {
    "*": [
        ("area", r"\b(centre|center|north|south|east|west)\b"),
        ("pricerange", r"(?<!not too )\b(cheap|moderate|expensive)\b"),
        ("bookday", r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b"),
        ("bookpeople", _NUMBER + r" (?:people|of us|guests|persons|adults)"),
        ("bookpeople", r"table for " + _NUMBER),
        ("booktime", r"\b(\d{1,2}:\d{2}|\d{1,2} ?(?:am|pm))\b"),
    ],
    "restaurant": [
        (
            "food",
            r"\b(indian|italian|chinese|thai|french|british|japanese|korean|mexican|"
            r"spanish|turkish|vegetarian|seafood|lebanese|greek|vietnamese)\b",
        ),
    ],
    "hotel": [("stars", r"\b(\d|three|four|five)[- ]star"), ("booknights", _NUMBER + r" nights?")],
    "attraction": [
        ("type", r"\b(museum|park|theatre|gallery|college|church|cinema|nightclub|pool|boat)\b")
    ],
    "hospital": [("department", r"\b(\w+) (?:department|clinic|ward)\b")],
    **{
        name: [
            ("departure", r"\bfrom (?:the )?([A-Z][a-z]+(?: [A-Z][a-z]+)?)"),
            ("destination", r"\bto (?:the )?([A-Z][a-z]+(?: [A-Z][a-z]+)?)"),
        ]
        for name in ("train", "taxi", "bus", "flight")
    },
}
_TIME_SLOTS = {
    "train": ("leaveat",),
    "bus": ("leaveat",),
    "flight": ("leaveat",),
    "taxi": ("leaveat",),
}


def _service_of(text: str, services: list[str], current: str) -> str:
    lowered = text.lower()
    for name in services:
        if any(word in lowered for word in _SERVICE_WORDS.get(name, ())):
            return name
    return current


def _values(text: str, service: str) -> dict[str, str]:
    """Slot values a user turn states for `service`, copied as written (lowercased)."""
    found: dict[str, str] = {}
    for slot, pattern in _PATTERNS["*"] + _PATTERNS.get(service, []):
        flags = 0 if slot in ("departure", "destination") else re.IGNORECASE
        match = re.search(pattern, text, flags)
        if match and slot not in found:
            name = _TIME_SLOTS.get(service, (slot,))[0] if slot == "booktime" else slot
            found[name] = match.group(1).lower()
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    for slot in ("departure", "destination"):
        if found.get(slot) in days:
            del found[slot]
    if service in ("train", "taxi", "bus", "flight"):
        for slot in ("area", "pricerange", "food", "stars"):
            found.pop(slot, None)
    if service == "attraction":
        for slot in ("pricerange", "bookpeople", "booktime", "bookday"):
            found.pop(slot, None)
    return found


def annotate_frames(names: list[str], speakers: list[int], lines: list[str]) -> list[object]:
    """MultiWOZ 2.2 frames (Hugging Face layout) with the cumulative dialogue state after
    each user turn: slot values found in the user's words by keyword patterns."""
    state: dict[str, dict[str, str]] = {}
    current = names[0]
    frames: list[object] = []
    for speaker, line in zip(speakers, lines, strict=True):
        if speaker != 0:
            frames.append({"service": [], "state": [], "slots": []})
            continue
        text = line[2:].strip()
        current = _service_of(text, names, current)
        state.setdefault(current, {}).update(_values(text, current))
        active = [name for name in names if name in state]
        frames.append(
            {
                "service": active,
                "state": [
                    {
                        "active_intent": f"find_{name}",
                        "requested_slots": [],
                        "slots_values": {
                            "slots_values_name": [f"{name}-{slot}" for slot in state[name]],
                            "slots_values_list": [[value] for value in state[name].values()],
                        },
                    }
                    for name in active
                ],
                "slots": [],
            }
        )
    return frames


def build_dialogues() -> list[dict[str, object]]:
    """MultiWOZ rows: speaker 0 = user, 1 = system; frames carry the dialogue state."""
    rows = []
    for header, lines in _blocks(SOURCES / "multiwoz_source.txt"):
        dialogue_id, _, services = header.partition("|")
        names = [s.strip() for s in services.split(",")]
        speakers = [0 if line.startswith("U:") else 1 for line in lines]
        rows.append(
            {
                "dialogue_id": f"{dialogue_id.strip()}.json",
                "services": names,
                "turns": {
                    "turn_id": [str(i) for i in range(len(lines))],
                    "speaker": speakers,
                    "utterance": [line[2:].strip() for line in lines],
                    "frames": annotate_frames(names, speakers, lines),
                },
            }
        )
    return rows


def build_personas() -> list[dict[str, object]]:
    """FinePersonas rows with a JSON-encoded summary_label list."""
    rows = []
    for header, lines in _blocks(SOURCES / "personas_source.txt"):
        cluster, _, labels = header.partition("|")
        for line in lines:
            persona, _, own = line.partition(" || ")
            chosen = own if own else labels
            rows.append(
                {
                    "id": f"fp-{len(rows):05d}",
                    "persona": persona.strip(),
                    "cluster_label": int(cluster),
                    "summary_label": json.dumps([s.strip() for s in chosen.split(";")]),
                }
            )
    return rows


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(rows)} rows")


if __name__ == "__main__":
    _write(DATA / "multiwoz_sample.jsonl", build_dialogues())
    _write(DATA / "finepersonas_sample.jsonl", build_personas())
