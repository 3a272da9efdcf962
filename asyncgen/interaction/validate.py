"""Structural checks on a finished interaction (what the records promise)."""

from __future__ import annotations

from asyncgen.config import InteractionGenerationSettings
from asyncgen.interaction.records import Interaction


def problems(interaction: Interaction, settings: InteractionGenerationSettings) -> list[str]:
    """Every broken promise of an interaction, empty when it is valid."""
    found: list[str] = []
    roles = [m.role for m in interaction.messages]
    expected = ["user", "assistant"] * (len(roles) // 2 + 1)
    if roles != expected[: len(roles)] or len(roles) % 2:
        found.append("messages do not alternate user/assistant starting with user")
    if interaction.num_turns != len(roles) // 2:
        found.append("num_turns does not match the messages")
    if not settings.min_turns <= interaction.num_turns <= settings.max_turns:
        found.append(
            f"{interaction.num_turns} turns outside [{settings.min_turns}, {settings.max_turns}]"
        )
    if any(not m.content.strip() for m in interaction.messages):
        found.append("a message is empty")
    models = {m.metadata.get("model") for m in interaction.messages if m.role == "assistant"}
    if len(models) > 1:
        found.append("assistant messages name more than one model")
    return found
