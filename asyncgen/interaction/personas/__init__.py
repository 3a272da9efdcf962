"""Personas for the interaction pipeline: the bank, sampling, files, system prompts."""

from asyncgen.interaction.personas.bank import DEFAULT_BANK_PATH, Dimension, PersonaBank, load_bank
from asyncgen.interaction.personas.files import load_personas, read_rows
from asyncgen.interaction.personas.model import (
    PROFILE_LABEL,
    Persona,
    parse_profile,
    profile_json,
    summary,
)
from asyncgen.interaction.personas.prompt import personalised_system_prompt, with_system_prompt
from asyncgen.interaction.personas.sampler import (
    differing_features,
    persona_id,
    sample_personas,
)

__all__ = [
    "DEFAULT_BANK_PATH",
    "Dimension",
    "PROFILE_LABEL",
    "Persona",
    "PersonaBank",
    "differing_features",
    "load_bank",
    "load_personas",
    "parse_profile",
    "persona_id",
    "personalised_system_prompt",
    "profile_json",
    "read_rows",
    "sample_personas",
    "summary",
    "with_system_prompt",
]
