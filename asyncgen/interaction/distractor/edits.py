"""The edit log of surface noise: every change recorded so it can be replayed exactly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Edit:
    """Replace `deleted` at `position` (in the text as it was then) with `inserted`."""

    strategy: str
    position: int
    deleted: str
    inserted: str

    def apply(self, text: str) -> str:
        """The text after this edit.

        Raises:
            ValueError: the text at `position` is not what the edit deleted.
        """
        end = self.position + len(self.deleted)
        if text[self.position : end] != self.deleted:
            raise ValueError(f"edit at {self.position} expects {self.deleted!r}")
        return text[: self.position] + self.inserted + text[end:]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (every field: they are plain values)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Edit:
        """Rebuild from `to_dict` output."""
        return cls(
            str(data["strategy"]),
            int(data["position"]),
            str(data["deleted"]),
            str(data["inserted"]),
        )


def replay(clean: str, edits: Iterable[Edit | dict[str, Any]]) -> str:
    """The noisy text, rebuilt from the clean text and its edit log.

    Raises:
        ValueError: the log does not fit the text.
    """
    text = clean
    for edit in edits:
        text = (edit if isinstance(edit, Edit) else Edit.from_dict(edit)).apply(text)
    return text
