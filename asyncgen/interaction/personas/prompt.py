"""The personalised assistant system prompt written for each persona."""

from __future__ import annotations

from asyncgen.interaction.personas.model import Persona, profile_json, summary
from asyncgen.prompts import load_prompt


def personalised_system_prompt(features: dict[str, str]) -> str:
    """The assistant's system prompt adapted to one persona's features."""
    template = load_prompt("persona_system_prompt")
    return template.render(summary=summary(features), profile_json=profile_json(features))


def with_system_prompt(persona: Persona) -> Persona:
    """The persona with its personalised system prompt filled in (kept if already set)."""
    if persona.system_prompt:
        return persona
    return Persona(
        persona.persona_id, persona.features, personalised_system_prompt(persona.features)
    )
