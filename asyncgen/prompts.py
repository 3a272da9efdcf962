"""Prompt templates: text files in `prompts/` that each declare the kind of answer they expect.

A template starts with a front-matter block::

    ---
    kind: user_feedback
    description: one line on what it asks for
    ---
    Body with {placeholders} filled by str.format.

The transport sends the kind in the ``X-Asyncgen-Kind`` header so the simulator can answer
each kind in the format the pipeline parses. A rendered prompt also carries
machine-readable lines, ``User profile (JSON): {...}`` or the dialogue prompts'
``parameters (JSON): {...}``, which the simulator reads with the same `json_after` to
answer in kind.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

from asyncgen.errors import PromptError
from asyncgen.kinds import KIND_HEADER as KIND_HEADER  # its name, for the prompts' users

PROMPTS_DIR = Path(__file__).resolve().parent / "resources" / "prompts"
PARAMS_PREFIX = "parameters (JSON): "


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template: its kind, its declared fields, and its body."""

    name: str
    kind: str
    body: str
    description: str = ""

    @property
    def fields(self) -> frozenset[str]:
        """Placeholder names the body needs."""
        return frozenset(field for _, field, _, _ in string.Formatter().parse(self.body) if field)

    def render(self, **values: Any) -> str:
        """Fill the placeholders.

        Raises:
            PromptError: a placeholder has no value.
        """
        missing = self.fields - values.keys()
        if missing:
            raise PromptError(f"prompt {self.name!r} needs {', '.join(sorted(missing))}")
        return self.body.format(**values)


def load_prompt(name_or_path: str | Path) -> PromptTemplate:
    """Load a template by name (``"user_feedback"``) or by path.

    Raises:
        PromptError: the file is missing or declares no kind.
    """
    if isinstance(name_or_path, str) and not name_or_path.endswith(".txt"):
        return _load_named(name_or_path)  # a shipped name: every dialogue asks for it twice
    path = _resolve(name_or_path)
    return _load(path)


@cache
def _load_named(name: str) -> PromptTemplate:
    """A template by bare name (its path never depends on the working directory)."""
    return _load(_resolve(name))


def list_prompts() -> list[PromptTemplate]:
    """Every template shipped in `prompts/`."""
    return [_load(p) for p in sorted(PROMPTS_DIR.glob("*.txt"))]


def _resolve(name_or_path: str | Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix == ".txt" and candidate in _SHIPPED:
        return candidate
    if candidate.suffix == ".txt" and candidate.is_file():
        return candidate.resolve()
    stem = candidate.stem if candidate.suffix == ".txt" else str(name_or_path)
    return PROMPTS_DIR / f"{stem}.txt"


# The shipped templates are read when this module is imported (a few small files), so a
# pipeline that loads one while its run is under way never reads a file on the event loop.
_SHIPPED = {path: path.read_text(encoding="utf-8") for path in PROMPTS_DIR.glob("*.txt")}


@cache
def _load(path: Path) -> PromptTemplate:
    text = _SHIPPED.get(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise PromptError(f"{path}: prompt template not readable ({exc.strerror})") from exc
    if not text.startswith("---\n"):
        raise PromptError(f"{path}: prompt template has no front matter declaring its kind")
    header, _, body = text[4:].partition("\n---\n")
    meta = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in header.splitlines())
        if key.strip()
    }
    if not meta.get("kind"):
        raise PromptError(f"{path}: front matter declares no kind")
    return PromptTemplate(
        name=path.stem,
        kind=meta["kind"],
        body=body.lstrip("\n"),
        description=meta.get("description", ""),
    )


def json_after(text: str, label: str) -> Any:
    """The JSON value after `label` on the first line of `text` holding it; None when no
    line does or what follows is not JSON."""
    for line in text.splitlines():
        _, found, rest = line.partition(label)
        if found:
            try:
                return orjson.loads(rest)
            except orjson.JSONDecodeError:
                return None
    return None


def read_params(text: str) -> dict[str, Any]:
    """The JSON parameters line of a rendered prompt, or {} when it has none."""
    value = json_after(text, PARAMS_PREFIX)
    return value if isinstance(value, dict) else {}
