"""ledger.jsonl: every billed (or attempted) model call of a run, appended as it happens.

The transport's counters die with the process; the ledger does not. One line per attempt
is written with one `os.write` the moment its usage is known (so a SIGKILL loses at most
the line being written), fsynced every `fsync_interval` seconds, and summed again on
resume, so requests, tokens and cost stay true across kills, resumes and no-op resumes.

Batch answers (charges with a `ref`, their part) are the exception: a part's answers are
charged thousands at a time, so their lines are held and written together, with one
`os.write` at the end of the event-loop turn that charged them (or at `flush`, which the
batch client calls before it records a part as charged). A SIGKILL may lose held lines,
but only a suffix of an uncharged part's lines: the resume counts the part's lines here
(`charges_for`) and charges the answers after them, so nothing is lost or charged twice.

Line: ``{"t", "session", "kind", "model", "outcome", "final", "in", "out", "cached",
"usd"[, "estimated"]}``; requests = lines with `final`, attempts = lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypedDict, cast

import anyio
import orjson

from asyncgen import offload
from asyncgen.background import BackgroundTasks
from asyncgen.errors import StoreError
from asyncgen.jsontypes import JsonObject
from asyncgen.llm.usage import Charge
from asyncgen.store.jsonl import repair_tail

LEDGER_NAME = "ledger.jsonl"
HELD_LINES = 1024  # batch answers' lines held at most before they are written
logger = logging.getLogger("asyncgen.store")


@dataclass
class Spend:
    """Requests, attempts, tokens and dollars: one stage's, one session's or a run's."""

    requests: int = 0
    attempts: int = 0
    billed_failures: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached: int = 0
    cost_usd: float = 0.0

    def add(self, line: LedgerLine) -> None:
        """Count one ledger line."""
        tokens_in, tokens_out = int(line.get("in") or 0), int(line.get("out") or 0)
        self.attempts += 1
        self.requests += bool(line.get("final"))
        self.billed_failures += line.get("outcome") != "ok" and (tokens_in + tokens_out) > 0
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.tokens_cached += int(line.get("cached") or 0)
        self.cost_usd += float(line.get("usd") or 0.0)

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.tokens_in + self.tokens_out

    def to_dict(self) -> JsonObject:
        """JSON-ready, cost rounded to a millionth of a dollar."""
        data = asdict(self)
        data["cost_usd"] = round(self.cost_usd, 6)
        return data


@dataclass
class LedgerTotals:
    """A run's spend in all, by session and by stage (prompt kind)."""

    total: Spend = field(default_factory=Spend)
    by_session: dict[str, Spend] = field(default_factory=dict)
    by_kind: dict[str, Spend] = field(default_factory=dict)
    estimated_attempts: int = 0

    def add(self, line: LedgerLine) -> None:
        """Count one ledger line everywhere it belongs."""
        self.total.add(line)
        self.by_session.setdefault(str(line.get("session", "")), Spend()).add(line)
        self.by_kind.setdefault(str(line.get("kind") or "other"), Spend()).add(line)
        self.estimated_attempts += bool(line.get("estimated"))

    def to_dict(self) -> JsonObject:
        """The figures summary.json and `stats` show."""
        return {
            **self.total.to_dict(),
            "sessions": len(self.by_session),
            "estimated_attempts": self.estimated_attempts,
            "by_stage": {k: v.to_dict() for k, v in sorted(self.by_kind.items())},
        }


LedgerLine = TypedDict(
    "LedgerLine",
    {
        "t": float,  # unix time of the charge
        "session": str,
        "kind": str,  # the prompt kind (the stage)
        "model": str,
        "outcome": str,  # "ok" or the failure cause
        "final": bool,  # the request's last attempt (requests = final lines)
        "in": int,
        "out": int,
        "cached": int,
        "usd": float,
        "estimated": bool,  # token counts guessed from an unreadable body
        "ref": str,  # the batch part whose answer this charge is
    },
    total=False,
)
"""One line of ledger.jsonl: one attempt as the provider bills it ("in"/"out" are
keywords, hence the functional form)."""


def ledger_path(run_dir: Path) -> Path:
    """Where a run directory keeps its ledger."""
    return run_dir / LEDGER_NAME


def _lines(path: Path) -> Iterator[LedgerLine]:
    """Every whole line of a ledger (a torn tail or a damaged line is skipped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    for raw in data[: data.rfind(b"\n") + 1].splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            line = orjson.loads(raw)
            if isinstance(line, dict):  # asyncgen wrote it: a LedgerLine, read leniently
                yield cast(LedgerLine, line)


def read_ledger(run_dir: Path) -> LedgerTotals | None:
    """The run's spend from its ledger, or None for a run made before ledgers existed.

    Raises:
        StoreError: the ledger exists but cannot be read.
    """
    path = ledger_path(run_dir)
    if not path.exists():
        return None
    totals = LedgerTotals()
    for line in _lines(path):
        totals.add(line)
    return totals


class Ledger:
    """The append side: open (summing what is there), record charges, fsync on a cadence."""

    def __init__(self, path: Path, session: str, *, fsync_interval: float = 1.0) -> None:
        self.path = path
        self.session = session
        self.fsync_interval = fsync_interval
        self.totals = LedgerTotals()
        self.before = Spend()
        self._fd: int | None = None
        self._dirty = False
        self._tasks = BackgroundTasks()  # the fsync cadence, between `start` and `aclose`
        self._broken: str | None = None
        self.refs: Counter[str] = Counter()  # lines per `ref` (a batch part), every session
        self._held: list[bytes] = []  # batch answers' lines not yet written (`flush`)
        self._flush_soon: asyncio.Handle | None = None

    def charges_for(self, ref: str) -> int:
        """How many lines name `ref`: a batch part's answers already charged."""
        return self.refs.get(ref, 0)

    def open(self) -> None:
        """Cut a torn tail, sum the earlier lines, open for appending (blocking: run off-loop).

        Raises:
            StoreError: the ledger cannot be read or opened.
        """
        try:
            repair_tail(self.path)
            for line in _lines(self.path):
                self.totals.add(line)
                if "ref" in line:
                    self.refs[str(line["ref"])] += 1
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
        except OSError as exc:
            raise StoreError(f"cannot write to {self.path}: {exc.strerror}") from exc
        self.before = Spend(**asdict(self.totals.total))

    @property
    def session_spend(self) -> Spend:
        """What this session spent so far."""
        return self.totals.by_session.get(self.session, Spend())

    def record(self, charge: Charge) -> None:
        """Append one charge now (a usage listener: called on the loop, one small write)."""
        line: LedgerLine = {
            "t": round(time.time(), 3),
            "session": self.session,
            "kind": charge.kind,
            "model": charge.model,
            "outcome": charge.outcome,
            "final": charge.final,
            "in": charge.tokens_in,
            "out": charge.tokens_out,
            "cached": charge.tokens_cached,
            "usd": round(charge.cost_usd, 9),
        }
        if charge.estimated:
            line["estimated"] = True
        if charge.ref:
            line["ref"] = charge.ref
            self.refs[charge.ref] += 1
        self.totals.add(line)
        if self._fd is None or self._broken is not None:
            return
        if charge.ref:
            self._hold(orjson.dumps(line) + b"\n")
            return
        self.flush()  # the held lines first: the file keeps the order of the charges
        self._write(orjson.dumps(line) + b"\n")

    def _hold(self, data: bytes) -> None:
        """Keep a batch answer's line for the write at the end of this loop turn."""
        self._held.append(data)
        if len(self._held) >= HELD_LINES:
            self.flush()
            return
        if self._flush_soon is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # not on a loop: nothing would flush later
                self.flush()
                return
            self._flush_soon = loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the held batch answers' lines now (one `os.write`)."""
        if self._flush_soon is not None:
            self._flush_soon.cancel()
            self._flush_soon = None
        if not self._held:
            return
        data = b"".join(self._held)
        self._held.clear()
        if self._fd is not None and self._broken is None:
            self._write(data)

    def _write(self, data: bytes) -> None:
        assert self._fd is not None
        try:
            view = memoryview(data)
            while view:  # a short write (rare: a full disk) is completed
                view = view[os.write(self._fd, view) :]
            self._dirty = True
        except OSError as exc:  # the records' writers fail loudly on the same disk
            self._broken = exc.strerror or errno.errorcode.get(exc.errno or 0, "error")
            logger.error("ledger %s: cannot append (%s); totals kept in memory", self.path, exc)

    async def start(self) -> None:
        """Start the fsync cadence (in a task group `aclose`, in this same task, exits)."""
        if not self._tasks.is_open and self.fsync_interval > 0:
            await self._tasks.open()
            self._tasks.start_soon(self._cadence, name="ledger-fsync")

    async def _cadence(self) -> None:
        while True:
            await anyio.sleep(self.fsync_interval)
            await self._sync()

    async def _sync(self) -> None:
        self.flush()
        if self._dirty and self._fd is not None:
            self._dirty = False
            with contextlib.suppress(OSError):
                await offload.to_thread(os.fsync, self._fd)

    async def aclose(self) -> None:
        """Stop the cadence, fsync and close (idempotent; all of it also when cancelled)."""
        try:
            await self._tasks.close(cancel=True)  # not under a nested scope: groups nest
        finally:
            with anyio.CancelScope(shield=True):
                if self._fd is not None:
                    self._dirty = True
                    await self._sync()
                    fd, self._fd = self._fd, None
                    os.close(fd)
