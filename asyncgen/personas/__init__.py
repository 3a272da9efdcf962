"""Persona sources: the FinePersonas-v0.1-clustering-100k format and its selection."""

from asyncgen.personas.finepersonas import (
    UNCLUSTERED,
    FinePersona,
    PersonaBank,
    get_summary_labels,
    load_personas,
    parse_persona,
    safe_eval,
)

__all__ = [
    "UNCLUSTERED",
    "FinePersona",
    "PersonaBank",
    "get_summary_labels",
    "load_personas",
    "parse_persona",
    "safe_eval",
]
