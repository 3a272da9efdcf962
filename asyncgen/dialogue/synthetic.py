"""Synthetic base dialogues in the MultiWOZ v2.2 schema, for rehearsals larger than the sample.

The packaged sample holds 50 dialogues; a rehearsal of thousands needs thousands of
distinct bases (each is used at most once). This writes seeded, template-built
dialogues with slot values drawn per row, so every base conversation hashes differently.
Nothing is downloaded; the output is a JSONL or Parquet file the loader reads.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

SERVICES = ["restaurant", "hotel", "train", "attraction", "taxi", "hospital", "bus", "flight"]
PLACES = ["the centre", "the north", "the east", "the south", "the west", "the riverside",
          "the old town", "the station area", "the university quarter", "the harbour"]  # fmt: skip
REQUESTS: dict[str, list[str]] = {
    "restaurant": ["I need a table for {n} at a {adj} {cuisine} restaurant in {place} at {time}.",
                   "Can you find a {adj} place serving {cuisine} food near {place}?"],
    "hotel": ["I need a {adj} hotel in {place} for {n} nights from {day}.",
              "Is there a guesthouse in {place} with free parking for {n} people?"],
    "train": ["I need a train to {city} on {day}, leaving after {time}.",
              "When is the next train from {city} arriving before {time}?"],
    "attraction": ["What {adj} attractions are there in {place}?",
                   "I'd like {n} tickets for a museum in {place} on {day}."],
    "taxi": ["Please book a taxi from {place} to the station at {time}.",
             "I need a car for {n} people to {city} at {time}."],
    "hospital": ["I need the {dept} department at the hospital.",
                 "Can I book an appointment with {dept} on {day} at {time}?"],
    "bus": ["Which bus goes from {place} to {city} on {day}?",
            "I need a coach to {city} at around {time} for {n} people."],
    "flight": ["I need a flight to {city} on {day} for {n} passengers.",
               "Can I change my flight to {city} to leave after {time}?"],
}  # fmt: skip
REPLIES = [
    "I have {k} options for that. The best match is {name}, at {price} pounds.",
    "{name} is available on {day} at {time}. Shall I book it?",
    "I found {name} in {place}. It costs {price} pounds.",
    "There are {k} results; {name} fits what you asked for.",
]
FOLLOW_UPS = [
    "Yes, please book it for {n}.",
    "What is the address and phone number?",
    "Is there anything cheaper?",
    "Could you make it {time} instead?",
]
CONFIRMS = [
    "Booked. Your reference number is {ref}.",
    "Done. The reference is {ref}; anything else?",
    "That's confirmed under reference {ref}.",
]
WORDS: dict[str, list[str]] = {
    "adj": ["cheap", "moderately priced", "pricey", "quiet", "popular", "family-friendly"],
    "cuisine": ["Italian", "Indian", "Chinese", "Thai", "Lebanese", "Mexican", "Japanese"],
    "city": ["London", "Norwich", "Ely", "Leeds", "York", "Oxford", "Bristol", "Stansted"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "dept": ["cardiology", "paediatrics", "neurology", "oncology", "orthopaedics", "A&E"],
    "name": ["The Lantern", "Riverside", "Kings Lodge", "Golden Gate", "Market House", "Oakwood"],
}


def synthesize_multiwoz(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` distinct MultiWOZ-schema dialogues (HF column layout), seeded."""
    rng = random.Random(seed)
    return [_dialogue(i, rng) for i in range(n)]


def _values(rng: random.Random, index: int) -> dict[str, Any]:
    values: dict[str, Any] = {key: rng.choice(options) for key, options in WORDS.items()}
    values.update(
        n=rng.randint(1, 8),
        k=rng.randint(2, 9),
        place=rng.choice(PLACES),
        time=f"{rng.randint(6, 22):02d}:{rng.choice(['00', '15', '30', '45'])}",
        price=rng.randint(8, 400),
        ref=f"SYN{index:06d}{rng.randint(100, 999)}",
    )
    return values


def _dialogue(index: int, rng: random.Random) -> dict[str, Any]:
    services = rng.sample(SERVICES, rng.choices([1, 2, 3], weights=[5, 4, 1])[0])
    values = _values(rng, index)
    lines: list[tuple[int, str]] = []
    for service in services:
        lines.append((0, rng.choice(REQUESTS[service]).format(**values)))
        lines.append((1, rng.choice(REPLIES).format(**values)))
        lines.append((0, rng.choice(FOLLOW_UPS).format(**values)))
        lines.append((1, rng.choice(CONFIRMS).format(**values)))
    return {
        "dialogue_id": f"SYN{index:06d}.json",
        "services": services,
        "turns": {
            "turn_id": [str(i) for i in range(len(lines))],
            "speaker": [s for s, _ in lines],
            "utterance": [u for _, u in lines],
        },
    }


def write_multiwoz(path: str | Path, n: int, seed: int = 0) -> Path:
    """Write `n` synthetic dialogues to a .jsonl or .parquet file; returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    rows = synthesize_multiwoz(n, seed)
    if target.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), target)
        return target
    with target.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return target
