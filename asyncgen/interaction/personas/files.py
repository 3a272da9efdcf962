"""Load personas from a JSONL/JSON/YAML file, and persist them as personas.jsonl."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from asyncgen.errors import DatasetError
from asyncgen.interaction.personas.model import Persona
from asyncgen.store.jsonl import parse_line


def read_rows(path: str | Path, what: str) -> list[dict[str, Any]]:
    """Rows of a JSONL, JSON (list) or YAML (list) file.

    Raises:
        DatasetError: unreadable file, or a row that is not an object (file and line named).
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{source}: {what} file not readable ({exc.strerror})") from exc
    if source.suffix == ".jsonl":
        return [parse_line(line, f"{source}:{n}", DatasetError) for n, line in _lines(text)]
    try:
        data = yaml.safe_load(text)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise DatasetError(f"{source}: {what} file is not valid JSON/YAML") from exc
    if isinstance(data, dict):
        data = next((v for v in data.values() if isinstance(v, list)), None)
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise DatasetError(f"{source}: {what} file must hold a list of objects")
    return data


def load_personas(path: str | Path) -> list[Persona]:
    """Personas from a file whose rows have `persona_id` and `features` (or `persona_features`).

    Raises:
        DatasetError: a row lacks either field, or ids repeat.
    """
    personas: list[Persona] = []
    for number, row in enumerate(read_rows(path, "personas"), start=1):
        try:
            personas.append(Persona.from_dict(row))
        except (KeyError, ValueError) as exc:
            raise DatasetError(
                f"{path}: persona {number} needs persona_id and a features mapping"
            ) from exc
    ids = [p.persona_id for p in personas]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{path}: persona ids repeat")
    if not personas:
        raise DatasetError(f"{path}: no personas")
    return personas


def _lines(text: str) -> list[tuple[int, str]]:
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
