"""What batch mode keeps in the run directory, so nothing submitted is paid for twice.

    RUN/batch/run.json                  {"run_id"}: the id batch metadata carries
    RUN/batch/parts/R-P.jsonl           the input file of round R, part P (fsynced)
    RUN/batch/parts/R-P.json            its state, rewritten atomically at each step:
                                        written → uploaded (file_id) → created (batch_id)
                                        → done (status, output/error files) | abandoned
                                        (never uploaded) | lost (the provider has no such
                                        batch or file any more: its requests go again)
    RUN/batch/parts/R-P.output.jsonl    the provider's output file, as downloaded
    RUN/batch/parts/R-P.errors.jsonl    the provider's error file

Each step is on disk before the next call that spends money: the file id before the
batch is created, the batch id before anything waits on it. A part found `uploaded` on
resume may have a batch that was created but not recorded; the provider's batch list is
searched for its metadata (run id, round, part) before one is created.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncGenerator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from asyncgen import offload
from asyncgen.errors import StoreError

LINES_PER_STEP = 500  # lines parsed per step off the loop while an output file is read

STATES = ("written", "uploaded", "created", "done", "abandoned", "lost")


@dataclass
class PartState:
    """One batch of one round, as recorded."""

    name: str
    round: int
    part: int
    model: str
    requests: int
    tokens: int
    bytes: int
    state: str = "written"
    file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    created_at: float | None = None
    finished_at: float | None = None
    output: str | None = None
    errors: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class BatchJournal:
    """The `batch/` folder of one run directory."""

    def __init__(self, run_dir: Path) -> None:
        self.root = run_dir / "batch"
        self.parts_dir = self.root / "parts"
        self.run_id = ""

    def open(self) -> list[PartState]:
        """Create the folder (and the run id) or read them back; every recorded part."""
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        marker = self.root / "run.json"
        if marker.exists():
            self.run_id = str(read_json(marker)["run_id"])
        else:
            self.run_id = uuid.uuid4().hex
            write_json_atomic(marker, {"run_id": self.run_id})
        parts = [
            PartState(**read_json(path))
            for path in sorted(self.parts_dir.glob("*.json"))
            if not path.name.startswith(".")
        ]
        return parts

    def input_path(self, name: str) -> Path:
        """Where a part's input file is."""
        return self.parts_dir / f"{name}.jsonl"

    def output_path(self, name: str, which: str) -> Path:
        """Where a part's downloaded output (`output`) or error (`errors`) file goes."""
        return self.parts_dir / f"{name}.{which}.jsonl"

    def record(self, part: PartState) -> None:
        """Rewrite a part's state atomically (temp, fsync, rename)."""
        write_json_atomic(self.parts_dir / f"{part.name}.json", asdict(part))


def write_json_atomic(path: Path, obj: Any) -> None:
    """Temp sibling, fsync, rename, fsync the folder: a reader sees the old or the new state.

    (The same steps as `asyncgen.store.atomic`; the transport package may not import the
    store, which imports it.)
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with temp.open("wb") as out:
        out.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2))
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def read_json(path: Path) -> Any:
    """A JSON file written by `write_json_atomic`.

    Raises:
        StoreError: missing or not JSON.
    """
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise StoreError(f"{path}: cannot read batch state ({exc})") from exc


def _next_lines(handle: IO[bytes], count: int) -> list[dict[str, Any]]:
    """Up to `count` JSON objects from the next lines (blank, torn or non-object lines
    skipped); empty at the end."""
    out: list[dict[str, Any]] = []
    for raw in handle:
        if not raw.strip():
            continue
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
            if len(out) >= count:
                break
    return out


async def iter_lines(
    path: Path, step: int = LINES_PER_STEP
) -> AsyncGenerator[dict[str, Any], None]:
    """The JSON lines of a downloaded output or error file (or an input file), read and
    parsed `step` lines at a time off the loop, so a file never sits in memory whole."""
    handle = await offload.to_thread(path.open, "rb")
    try:
        while lines := await offload.to_thread(_next_lines, handle, step):
            for line in lines:
                yield line
    finally:
        with contextlib.suppress(OSError):
            await offload.to_thread(handle.close)


def _next_spans(handle: IO[bytes], count: int) -> list[tuple[int, int, dict[str, Any]]]:
    """As `_next_lines`, each object with the byte offset and length of its line."""
    out: list[tuple[int, int, dict[str, Any]]] = []
    offset = handle.tell()
    while len(out) < count and (raw := handle.readline()):
        at, offset = offset, offset + len(raw)
        try:
            entry = orjson.loads(raw) if raw.strip() else None
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            out.append((at, len(raw), entry))
    return out


async def iter_spans(
    path: Path, step: int = LINES_PER_STEP
) -> AsyncGenerator[tuple[int, int, dict[str, Any]], None]:
    """`iter_lines` with each line's byte offset and length (to read it again later)."""
    handle = await offload.to_thread(path.open, "rb")
    try:
        while spans := await offload.to_thread(_next_spans, handle, step):
            for span in spans:
                yield span
    finally:
        with contextlib.suppress(OSError):
            await offload.to_thread(handle.close)


def read_line_at(path: Path, offset: int, length: int) -> dict[str, Any]:
    """The JSON object of one line, by its byte offset and length (blocking)."""
    with path.open("rb") as handle:
        handle.seek(offset)
        entry = orjson.loads(handle.read(length))
    return entry if isinstance(entry, dict) else {}


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of a file at once (blocking; for the rare resume paths)."""
    with path.open("rb") as handle:
        return _next_lines(handle, 1 << 62)


def input_ids(path: Path) -> list[str]:
    """The custom ids of a part's input file, in order."""
    return [str(e.get("custom_id")) for e in read_lines(path)]


def unfinished_batches(run_dir: Path) -> int:
    """Batches a run submitted (or may have) whose answers were never collected."""
    folder = run_dir / "batch" / "parts"
    if not folder.is_dir():
        return 0
    count = 0
    for path in folder.glob("*.json"):
        if path.name.startswith("."):
            continue
        try:
            state = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        count += state.get("state") in ("uploaded", "created")
    return count
