"""The report's persistence files: dialogues JSON, base-conversation hashes, embeddings.

A run's source of truth is its append-only `records.jsonl` (written by the engine);
these files are the report's export of it, written atomically.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from asyncgen.config import DialogueSettings, RunConfig
from asyncgen.errors import StoreError
from asyncgen.store.atomic import atomic_path, write_bytes_atomic
from asyncgen.store.jsonl import iter_jsonl
from asyncgen.store.rundir import RECORDS_FILE

log = logging.getLogger(__name__)


class DialogueFiles:
    """`output_file`, `hash_file` and `embedding_file` inside one folder."""

    def __init__(self, settings: DialogueSettings) -> None:
        self.settings = settings

    def load_dialogues(self, folder: Path) -> list[dict[str, Any]]:
        """Dialogues already saved; an unreadable file is an error, not an empty list."""
        path = folder / self.settings.output_file
        if not path.is_file():
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise StoreError(f"{path}: not valid JSON ({exc.msg})") from exc
        if not isinstance(data, list):
            raise StoreError(f"{path}: expected a JSON list of dialogues")
        return data

    def save_new_dialogues(
        self, new_dialogues: Iterable[dict[str, Any]], folder: Path, hashes: Iterable[str] = ()
    ) -> int:
        """Merge new dialogues into the saved ones (by dialogue_id) and save the hashes.

        The new dialogues are streamed into the file one at a time (a run's records are
        never all in memory); only dialogues already in the file are loaded.
        """
        existing = self.load_dialogues(folder)
        seen = {d.get("dialogue_id") for d in existing}
        all_hashes = set(hashes)
        total = 0
        with (
            atomic_path(folder / self.settings.output_file) as temp,
            temp.open("wb") as out,
        ):
            out.write(b"[")
            fresh = (d for d in new_dialogues if d.get("dialogue_id") not in seen)
            for dialogue in chain(existing, fresh):
                if dialogue.get("base_dialogue_hash"):
                    all_hashes.add(str(dialogue["base_dialogue_hash"]))
                out.write(_array_item(dialogue, first=total == 0))
                total += 1
            out.write(b"\n]" if total else b"]")
        self.save_hashes(sorted(all_hashes), folder)
        return total

    def save_hashes(self, hashes: list[str], folder: Path) -> None:
        """Write the used base-conversation hashes as a JSON list."""
        write_bytes_atomic(folder / self.settings.hash_file, json.dumps(hashes, indent=2).encode())

    def load_hashes(self, folder: Path) -> set[str]:
        """Hashes saved earlier (empty when there is no file)."""
        path = folder / self.settings.hash_file
        if not path.is_file():
            return set()
        try:
            return set(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError) as exc:
            raise StoreError(f"{path}: not a JSON list of hashes") from exc

    def save_embeddings(self, embeddings: np.ndarray, folder: Path) -> None:
        """Write the dialogue embeddings as a .npy array."""
        with atomic_path(folder / self.settings.embedding_file) as temp, temp.open("wb") as out:
            np.save(out, np.asarray(embeddings, dtype=np.float32))


def export_run(run_dir: Path, config: RunConfig, records_file: str = RECORDS_FILE) -> int:
    """Write `output_file`, `hash_file` and (with dedup state) `embedding_file` into a run.

    The run's `records.jsonl` stays the source of truth; these are the report's views of
    it: every dialogue as one JSON array, the SHA-256 of every base conversation used,
    and the dialogue embeddings the uniqueness gate kept. As in the report, dialogues
    and hashes already in those files (an absolute `output_file` shared by several runs)
    are kept and the new ones merged in by `dialogue_id`. Returns the dialogue count.
    """
    files = DialogueFiles(config.dialogue)
    count = 0
    order: list[str] = []  # embedding rows line up with this run's records

    def records() -> Iterator[dict[str, Any]]:
        nonlocal count
        for _, record in iter_jsonl(run_dir / records_file):
            count += 1
            if config.dedup.enabled:
                order.append(str(record.get("id")))
            yield record

    total = files.save_new_dialogues(records(), run_dir, files.load_hashes(run_dir))
    if config.dedup.enabled:
        from asyncgen.dedup.export import export_embeddings

        try:
            export_embeddings(run_dir, run_dir / config.dialogue.embedding_file, order)
        except StoreError as exc:
            log.info("no embeddings to export: %s", exc)
    log.info(
        "exported %d dialogues (%d in %s) to %s",
        count,
        total,
        config.dialogue.output_file,
        run_dir,
    )
    return count


def _array_item(dialogue: dict[str, Any], *, first: bool) -> bytes:
    """One element of a JSON array laid out as `json.dumps(list, indent=2)` lays it out."""
    text = json.dumps(dialogue, ensure_ascii=False, indent=2).replace("\n", "\n  ")
    return (("\n  " if first else ",\n  ") + text).encode("utf-8")
