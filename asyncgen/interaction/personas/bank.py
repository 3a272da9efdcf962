"""The persona bank: categorical dimensions and their values, loaded from YAML."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from asyncgen.errors import DatasetError

DEFAULT_BANK_PATH = Path(__file__).resolve().parents[2] / "resources" / "persona_bank.yaml"


@dataclass(frozen=True)
class Dimension:
    """One categorical feature; `always` dimensions are fixed on every persona."""

    name: str
    values: tuple[str, ...]
    always: bool = False


@dataclass(frozen=True)
class PersonaBank:
    """Every dimension a persona may fix, in file order."""

    dimensions: tuple[Dimension, ...]

    @property
    def names(self) -> list[str]:
        """Dimension names in file order."""
        return [d.name for d in self.dimensions]

    def get(self, name: str) -> Dimension:
        """The dimension called `name`."""
        for dim in self.dimensions:
            if dim.name == name:
                return dim
        raise KeyError(name)


def load_bank(path: str | Path | None = None) -> PersonaBank:
    """Load a persona bank (the packaged one when `path` is None).

    Raises:
        DatasetError: the file is missing, not YAML, or a dimension has no values.
    """
    source = Path(path) if path is not None else DEFAULT_BANK_PATH
    try:
        raw = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{source}: persona bank not readable ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise DatasetError(f"{source}: persona bank is not valid YAML") from exc
    dims = raw.get("dimensions") if isinstance(raw, dict) else None
    if not isinstance(dims, dict) or not dims:
        raise DatasetError(f"{source}: persona bank needs a non-empty `dimensions` mapping")
    return PersonaBank(tuple(_dimension(source, name, spec) for name, spec in dims.items()))


def _dimension(source: Path, name: str, spec: Any) -> Dimension:
    values = spec.get("values") if isinstance(spec, dict) else spec
    if not isinstance(values, list) or not values:
        raise DatasetError(f"{source}: dimension {name!r} needs a non-empty list of values")
    unique = tuple(dict.fromkeys(str(v) for v in values))
    always = bool(spec.get("always", False)) if isinstance(spec, dict) else False
    return Dimension(name=str(name), values=unique, always=always)
