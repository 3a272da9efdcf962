"""One record of either pipeline as the judge reads it: persona, goal, turns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Transcript:
    """Who said what, the persona the user plays, and the goal when the record has one."""

    persona: Any
    goal: dict[str, Any] | None
    turns: list[tuple[str, str]]

    @property
    def is_dialogue(self) -> bool:
        """A service dialogue (it has a goal to complete)."""
        return self.goal is not None

    def lines(self) -> str:
        """One line per turn, `role: text`, newlines inside a turn shown as ' / '."""
        return "\n".join(f"{role}: {_one_line(text)}" for role, text in self.turns)


def transcript(record: dict[str, Any]) -> Transcript:
    """Recognise the pipeline from the record's fields and extract the conversation."""
    persona = record.get("persona_features") or record.get("persona") or "unknown"
    goal = record.get("goal") if isinstance(record.get("goal"), dict) else None
    if isinstance(record.get("messages"), list):
        turns = [
            (str(m.get("role", "")), str(m.get("content") or ""))
            for m in record["messages"]
            if isinstance(m, dict) and m.get("role") in ("user", "assistant")
        ]
    else:
        turns = []
        for turn in record.get("turns") or []:
            if not isinstance(turn, dict):
                continue
            turns.append(("user", str(turn.get("user_utterance") or "")))
            turns.append(("assistant", str(turn.get("assistant_response") or "")))
    if goal is None and "turns" in record and "messages" not in record:
        goal = {}  # a service dialogue without a grounded goal: judged on the rest
    return Transcript(persona=persona, goal=goal, turns=turns)


def _one_line(text: str) -> str:
    return " / ".join(part.strip() for part in text.strip().splitlines() if part.strip())
