"""FinePersonas-v0.1-clustering-100k personas: load, index by cluster and summary, select.

Rows carry `id`, `persona`, `cluster_label` (an int; −1 means unclustered) and
`summary_label` (a JSON-encoded list of strings, e.g. '["Healthcare", "Nursing"]').
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from asyncgen.personas.tables import Row, field_error, load_table

SAMPLE_PATH = Path(__file__).resolve().parent.parent / "data" / "finepersonas_sample.jsonl"
UNCLUSTERED = -1
SelectionMode = Literal["either", "cluster", "summary"]
# the fields a persona is built from; the dataset's embedding columns are never loaded
PERSONA_COLUMNS = ("id", "persona", "cluster_label", "summary_label")


@dataclass(frozen=True)
class FinePersona:
    """One persona row."""

    id: str
    persona: str
    cluster_label: int
    summary_labels: tuple[str, ...]


@dataclass
class PersonaBank:
    """Personas plus the report's `cluster_dict` and `summary_dict` (label → row indices)."""

    source: str
    personas: list[FinePersona]
    cluster_dict: dict[int, list[int]] = field(default_factory=dict)
    summary_dict: dict[tuple[str, ...], list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.cluster_dict and not self.summary_dict:
            self.populate_persona_dicts()

    def __len__(self) -> int:
        return len(self.personas)

    def fingerprint(self) -> str:
        """A short digest of every persona's id and text, so a resume notices a change."""
        digest = hashlib.sha256()
        for persona in self.personas:
            digest.update(f"{persona.id}\x00{persona.persona}\x00".encode())
        return digest.hexdigest()[:16]

    def populate_persona_dicts(self) -> None:
        """Index every persona by its cluster label and by its sorted summary labels."""
        self.cluster_dict, self.summary_dict = {}, {}
        for index, persona in enumerate(self.personas):
            self.cluster_dict.setdefault(persona.cluster_label, []).append(index)
            self.summary_dict.setdefault(persona.summary_labels, []).append(index)

    def select_index(self, rng: random.Random, mode: SelectionMode = "either") -> int:
        """A persona index drawn by cluster or by summary (a coin flip for "either").

        Cluster-based selection draws among real clusters (label −1, "unclustered", is
        not a cluster) unless every persona is unclustered; summary-based selection
        draws among every summary.
        """
        by_cluster = rng.random() < 0.5 if mode == "either" else mode == "cluster"
        if by_cluster:
            clusters = sorted(k for k in self.cluster_dict if k != UNCLUSTERED)
            key_c = rng.choice(clusters or sorted(self.cluster_dict))
            return rng.choice(self.cluster_dict[key_c])
        summaries = sorted(self.summary_dict)
        key_s = summaries[rng.randrange(len(summaries))]
        return rng.choice(self.summary_dict[key_s])

    def select_random_persona(
        self, rng: random.Random, mode: SelectionMode = "either"
    ) -> FinePersona:
        """The report's `select_random_persona`, with the RNG passed in."""
        return self.personas[self.select_index(rng, mode)]


def load_personas(path: str | Path | None = None, split: str = "train") -> PersonaBank:
    """The report's `load_persona_dataset` + `populate_persona_dicts`; `None` = packaged sample.

    Raises:
        DatasetError: unreadable file, or a row missing a field or with a bad label.
    """
    target = Path(path) if path is not None else SAMPLE_PATH
    personas = load_table(target, split, parse_persona, what="personas", columns=PERSONA_COLUMNS)
    return PersonaBank(source=str(target), personas=personas)


def parse_persona(row: Row) -> FinePersona:
    """Validate one persona row.

    Raises:
        DatasetError: naming the file, row and field at fault.
    """
    data = row[2]
    fail = partial(field_error, row)

    persona = data.get("persona")
    if not isinstance(persona, str) or not persona.strip():
        raise fail("persona", "missing or empty")
    raw_id = data.get("id")
    if raw_id is None or str(raw_id) == "":
        raise fail("id", "missing")
    cluster = data.get("cluster_label")
    if isinstance(cluster, bool) or not isinstance(cluster, int):
        raise fail("cluster_label", f"{cluster!r} is not an integer (-1 = unclustered)")
    if "summary_label" not in data:
        raise fail("summary_label", "missing")
    try:
        labels = get_summary_labels(data["summary_label"])
    except ValueError as exc:
        raise fail("summary_label", str(exc)) from exc
    return FinePersona(str(raw_id), persona.strip(), cluster, labels)


def safe_eval(value: str) -> Any:
    """Parse a JSON-encoded (or Python-literal) string without executing anything."""
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        try:
            return ast.literal_eval(value)
        except (ValueError, SyntaxError) as exc:
            raise ValueError(f"{value[:60]!r} is not a JSON-encoded list") from exc


def get_summary_labels(value: Any) -> tuple[str, ...]:
    """Summary labels as a sorted tuple (the `summary_dict` key).

    Raises:
        ValueError: the value is not a list of strings, encoded or not.
    """
    parsed = safe_eval(value) if isinstance(value, str) else value
    if not isinstance(parsed, list | tuple) or not all(isinstance(s, str) for s in parsed):
        raise ValueError(f"{str(value)[:60]!r} is not a list of strings")
    return tuple(sorted(s.strip() for s in parsed))
