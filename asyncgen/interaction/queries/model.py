"""A query a persona brings: the neutral original and the version in the persona's voice."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class QueryRecord:
    """One query; `adapted_query` is None until style transfer has run."""

    query_id: str
    persona_id: str
    original_query: str
    adapted_query: str | None = None
    source: str = "generated"
    style_transfer: str = "pending"

    def adapted(self, text: str, status: str = "ok") -> QueryRecord:
        """This query with its persona-voiced version."""
        return replace(self, adapted_query=text, style_transfer=status)

    @property
    def initial_query(self) -> str:
        """What the user sends first: the adapted query, else the original."""
        return self.adapted_query or self.original_query

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (one queries.jsonl line; every field is a plain value)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryRecord:
        """Rebuild from `to_dict` output."""
        adapted = data.get("adapted_query")
        return cls(
            query_id=str(data["query_id"]),
            persona_id=str(data["persona_id"]),
            original_query=str(data["original_query"]),
            adapted_query=str(adapted) if adapted else None,
            source=str(data.get("source", "generated")),
            style_transfer=str(data.get("style_transfer", "ok" if adapted else "pending")),
        )


def query_id(persona_id: str, number: int, prefix: str = "q") -> str:
    """`persona_001_q003`-style ids."""
    return f"{persona_id}_{prefix}{number:03d}"
