"""The spec's conversation records: `Message` and `Interaction`, plain dataclasses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: aware UTC now (inject another for tests)."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """An ISO timestamp without microseconds, as the spec's records show."""
    return moment.replace(microsecond=0).isoformat()


@dataclass
class Message:
    """One user or assistant message; `metadata` carries turn, model, noise facts."""

    role: str
    content: str
    timestamp: str = field(default_factory=lambda: iso(utc_now()))
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The message as a JSON-ready mapping."""
        return {
            "role": self.role,
            "content": self.content,
            "timestamp": self.timestamp,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        """Rebuild a message from `to_dict` output."""
        return cls(
            role=str(data["role"]),
            content=str(data["content"]),
            timestamp=str(data.get("timestamp", "")),
            metadata=dict(data.get("metadata") or {}),
        )

    @property
    def clean_content(self) -> str:
        """The text before noise was injected (the content itself when it was not noised)."""
        return str(self.metadata.get("clean_content", self.content))


@dataclass
class Interaction:
    """A finished multi-turn conversation between a persona and the assistant."""

    interaction_id: str
    persona_id: str
    persona_features: dict[str, str]
    original_query: str
    initial_query: str
    messages: list[Message] = field(default_factory=list)
    num_turns: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The interaction in the spec's output format."""
        return {
            "interaction_id": self.interaction_id,
            "persona_id": self.persona_id,
            "persona_features": dict(self.persona_features),
            "original_query": self.original_query,
            "initial_query": self.initial_query,
            "messages": [m.to_dict() for m in self.messages],
            "num_turns": self.num_turns,
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Interaction:
        """Rebuild an interaction from `to_dict` output (or a records.jsonl line)."""
        return cls(
            interaction_id=str(data["interaction_id"]),
            persona_id=str(data["persona_id"]),
            persona_features={str(k): str(v) for k, v in data["persona_features"].items()},
            original_query=str(data.get("original_query", "")),
            initial_query=str(data.get("initial_query", "")),
            messages=[Message.from_dict(m) for m in data.get("messages", [])],
            num_turns=int(data.get("num_turns", 0)),
            metadata=dict(data.get("metadata") or {}),
        )

    def get_trajectory(self, *, clean: bool = False) -> list[str]:
        """The user's prompts in order (as sent, or before noise with `clean=True`)."""
        users = [m for m in self.messages if m.role == "user"]
        return [m.clean_content if clean else m.content for m in users]

    def get_full_conversation(self, *, clean: bool = False) -> list[dict[str, str]]:
        """The conversation as `{role, content}` messages (optionally with clean user turns)."""
        return [
            {
                "role": m.role,
                "content": m.clean_content if clean and m.role == "user" else m.content,
            }
            for m in self.messages
        ]


def index_entry(data: dict[str, Any], filepath: str) -> dict[str, Any]:
    """An interaction's entry in the spec's index.json: its ids, the file holding it,
    turns, creation time and query."""
    meta = data.get("metadata") or {}
    return {
        "interaction_id": data.get("interaction_id"),
        "persona_id": data.get("persona_id"),
        "filepath": filepath,
        "num_turns": data.get("num_turns"),
        "created_at": meta.get("created_at"),
        "query_id": meta.get("query_id"),
    }
