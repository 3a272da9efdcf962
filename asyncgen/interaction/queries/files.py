"""Queries from a file instead of a model: JSONL/JSON/YAML rows."""

from __future__ import annotations

from pathlib import Path

from asyncgen.errors import DatasetError
from asyncgen.interaction.personas.files import read_rows
from asyncgen.interaction.personas.model import Persona
from asyncgen.interaction.queries.model import QueryRecord, query_id

QUERY_KEYS = ("original_query", "query", "text")


def load_queries(path: str | Path, personas: list[Persona]) -> list[QueryRecord]:
    """Queries from a file; rows without `persona_id` go to the personas round-robin.

    A row holds `original_query` (or `query`/`text`), and optionally `persona_id`,
    `query_id` and `adapted_query` (rows without one are style-transferred later).

    Raises:
        DatasetError: a row has no query text or names an unknown persona.
    """
    known = {p.persona_id for p in personas}
    order = [p.persona_id for p in personas]
    counts: dict[str, int] = {}
    records: list[QueryRecord] = []
    for number, row in enumerate(read_rows(path, "queries"), start=1):
        text = next((str(row[k]).strip() for k in QUERY_KEYS if row.get(k)), "")
        if not text:
            raise DatasetError(f"{path}: query {number} has no original_query/query/text")
        owner = str(row.get("persona_id") or order[(number - 1) % len(order)])
        if owner not in known:
            raise DatasetError(f"{path}: query {number} names unknown persona {owner!r}")
        counts[owner] = counts.get(owner, 0) + 1
        adapted = row.get("adapted_query")
        records.append(
            QueryRecord(
                query_id=str(row.get("query_id") or query_id(owner, counts[owner])),
                persona_id=owner,
                original_query=text,
                adapted_query=str(adapted) if adapted else None,
                source="file",
                style_transfer="given" if adapted else "pending",
            )
        )
    return records
