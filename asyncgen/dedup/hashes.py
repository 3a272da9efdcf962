"""Exact duplicates: SHA-256 digests and a persisted set of them (the spec's hash file)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson

from asyncgen.errors import StoreError
from asyncgen.store.atomic import write_bytes_atomic


def sha256_text(text: str) -> str:
    """Hex SHA-256 of the UTF-8 text, as the spec hashes a base conversation.

    Args:
        text: Any text.

    Returns:
        64 lowercase hex characters.
    """
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_text(text: str) -> str:
    """Collapse whitespace and case so trivially reformatted copies hash the same."""
    return " ".join(text.split()).lower()


class HashSet:
    """An insertion-ordered set of hex digests, saved as a JSON list (the spec's hash file)."""

    def __init__(self, digests: Iterable[str] = (), path: Path | None = None) -> None:
        self._items: dict[str, None] = dict.fromkeys(digests)
        self.path = path

    @classmethod
    def load(cls, path: Path) -> HashSet:
        """Read a hash file; a missing file is an empty set.

        Args:
            path: JSON file holding a list of hex digests.

        Returns:
            The set, remembering `path` for `save()`.

        Raises:
            StoreError: the file is not a JSON list of strings.
        """
        path = Path(path)
        if not path.exists():
            return cls(path=path)
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"hash file {path} is not valid JSON: {exc}") from exc
        if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
            raise StoreError(f"hash file {path} must hold a JSON list of hex digests")
        return cls(data, path=path)

    def save(self, path: Path | None = None) -> Path:
        """Write the digests as an indented JSON list, atomically.

        Raises:
            StoreError: no path was given or remembered.
        """
        target = Path(path) if path is not None else self.path
        if target is None:
            raise StoreError("HashSet.save needs a path")
        write_bytes_atomic(target, orjson.dumps(list(self._items), option=orjson.OPT_INDENT_2))
        return target

    def add(self, digest: str) -> bool:
        """Add a digest; return False when it was already present."""
        if digest in self._items:
            return False
        self._items[digest] = None
        return True

    def add_text(self, text: str) -> bool:
        """Hash `text` and add it; return False when the text was seen before."""
        return self.add(sha256_text(text))

    def contains_text(self, text: str) -> bool:
        """Whether `text` hashes to a digest already in the set."""
        return sha256_text(text) in self._items

    def __contains__(self, digest: object) -> bool:
        return digest in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
