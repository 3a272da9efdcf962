"""Build the packaged dialogue samples from their hand-written sources.

    .venv/bin/python scripts/build_dialogue_samples.py

Writes asyncgen/data/multiwoz_sample.jsonl (MultiWOZ v2.2 schema, Hugging Face column
layout: `turns` is a dict of lists) and asyncgen/data/finepersonas_sample.jsonl
(FinePersonas-v0.1-clustering-100k schema).
"""

from __future__ import annotations

import json
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


def build_dialogues() -> list[dict[str, object]]:
    """MultiWOZ rows: speaker 0 = user, 1 = system; frames name the active services."""
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
                    "frames": [
                        {"service": names if s == 0 else [], "state": [], "slots": []}
                        for s in speakers
                    ],
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
