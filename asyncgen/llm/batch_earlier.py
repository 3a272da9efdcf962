"""What earlier sessions of a run submitted, by request digest.

After a kill, conversations restart from their first turn and ask the same requests
again. Each is served from here when an earlier session already paid for it: a finished
answer (used once), or a place in a batch that is still running (the request waits on
that batch instead of being submitted again). Answers of finished batches are kept as
where they are on disk (file, offset, length), not as parsed lines: a resumed run of
many rounds would otherwise hold every answer it ever got in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from asyncgen.llm.batch_parts import Part, digest_of

Kept = dict[str, Any] | tuple[Path, int, int]  # a line, or where it is on disk


class EarlierWork:
    """Answers not yet reused, and requests of resumed batches nobody has asked for yet."""

    def __init__(self) -> None:
        self._answers: dict[str, list[Kept]] = {}
        self._slots: dict[str, list[tuple[Part, str]]] = {}

    def keep(self, line: dict[str, Any], at: tuple[Path, int, int] | None = None) -> None:
        """Keep a successful output line (or, given `at`, where it is on disk) for a later
        identical request."""
        response = line.get("response")
        if isinstance(response, dict) and response.get("status_code") == 200:
            digest = digest_of(str(line.get("custom_id")))
            self._answers.setdefault(digest, []).append(line if at is None else at)

    def take_answer(self, digest: str) -> Kept | None:
        """A kept output line for this request (each used once), or None."""
        lines = self._answers.get(digest)
        if not lines:
            return None
        line = lines.pop()
        if not lines:
            del self._answers[digest]
        return line

    def add_slot(self, part: Part, custom_id: str) -> None:
        """A request of a resumed batch, free for the first identical request."""
        self._slots.setdefault(digest_of(custom_id), []).append((part, custom_id))

    def take_slot(self, digest: str) -> tuple[Part, str] | None:
        """A resumed batch's place for this request, or None."""
        slots = self._slots.get(digest)
        if not slots:
            return None
        slot = slots.pop()
        if not slots:
            del self._slots[digest]
        return slot

    def unclaimed(self, part: Part, custom_id: str, line: dict[str, Any]) -> None:
        """A resumed batch answered a request nobody asked for again yet: keep the answer."""
        digest = digest_of(custom_id)
        slots = self._slots.get(digest)
        if slots and (part, custom_id) in slots:
            slots.remove((part, custom_id))
            if not slots:
                del self._slots[digest]
        self.keep(line)

    def forget_part(self, part: Part) -> None:
        """The part has ended: its remaining places are gone."""
        for digest in list(self._slots):
            kept = [s for s in self._slots[digest] if s[0] is not part]
            if kept:
                self._slots[digest] = kept
            else:
                del self._slots[digest]

    def forget_slots(self) -> None:
        """After the deadline fallback, later requests go online, not to cancelled batches."""
        self._slots.clear()
