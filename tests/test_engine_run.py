"""The engine in-process: exact counts, replacements, resume, refusals, stop, budget, dedup."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path
from typing import Any

import orjson
import pytest
from engine_support import FlakyLocal, LocalPipeline

from asyncgen.config import RunConfig, load_config
from asyncgen.config.llm import Price
from asyncgen.contract import Outcome, RunContext, WorkItem
from asyncgen.engine import RunOptions, RunSummary, Shutdown, run_generation
from asyncgen.errors import StoreError
from asyncgen.llm.types import ClientBase
from asyncgen.llm.usage import UsageMeter
from asyncgen.store import RunLayout, records_of
from asyncgen.store.rundir import OpenRun


def make_config(**overrides: Any) -> RunConfig:
    """Defaults plus dotted overrides, with fast cadences."""
    base = {
        "engine.n": 20,
        "engine.max_workers": 4,
        "engine.queue_size": 4,
        "engine.metrics_interval": 0.05,
        "engine.fsync_interval": 0.0,
        "dedup.enabled": False,
    }
    base.update(overrides)
    return load_config(None, base, environ={}, env_file=None)


class NoClient(ClientBase):
    """The pipelines here make no model calls; the engine reads its (empty) accounting."""


async def run(
    run_dir: Path,
    pipeline: LocalPipeline,
    config: RunConfig,
    *,
    shutdown: Shutdown | None = None,
    client: Any = None,
    gate: Any = None,
    opened: OpenRun | None = None,
) -> RunSummary:
    """One session with the display off (into `opened` when given)."""
    return await run_generation(
        config,
        pipeline,
        run_dir=opened or run_dir,
        client=client or NoClient(),
        gate=gate,
        options=RunOptions(progress="off", shutdown=shutdown),
    )


def lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file, parsed."""
    return records_of(path) if path.exists() else []


def assert_adds_up(summary: RunSummary, run_dir: Path) -> None:
    """The summary's counts match the files and keep both identities."""
    assert summary.done == len(lines(run_dir / "records.jsonl"))
    assert summary.failed == len(lines(run_dir / "failures.jsonl"))
    assert summary.rejected == len(lines(run_dir / "rejected.jsonl"))
    assert summary.planned == summary.done + summary.failed + summary.rejected + summary.not_started
    assert summary.target == summary.done + summary.not_started + summary.unreplaced
    stored = orjson.loads((run_dir / "summary.json").read_bytes())
    assert stored["done"] == summary.done and stored["planned"] == summary.planned


async def test_run_writes_exactly_n_records_and_every_file(tmp_path: Path) -> None:
    """A fresh run leaves n records with unique ids and the full set of run files."""
    config = make_config()
    summary = await run(tmp_path, LocalPipeline(config), config)
    records = lines(tmp_path / "records.jsonl")
    assert len(records) == 20 and len({r["id"] for r in records}) == 20
    assert summary.status == "complete" and summary.exit_code == 0
    for name in ("config.json", "plan.json", "index.json", "metrics.jsonl", "summary.json"):
        assert (tmp_path / name).exists(), name
    index = orjson.loads((tmp_path / "index.json").read_bytes())
    assert index["count"] == 20 and len(index["records"]) == 20
    assert {"id", "index", "created_at"} <= set(index["records"][0])
    assert "loop_lag" in lines(tmp_path / "metrics.jsonl")[-1]
    assert_adds_up(summary, tmp_path)


async def test_failed_items_are_replaced_by_later_indices(tmp_path: Path) -> None:
    """Failures go to failures.jsonl with reason and attempts; replacements fill up to n."""
    config = make_config()
    summary = await run(tmp_path, FlakyLocal(config), config)
    failures = lines(tmp_path / "failures.jsonl")
    assert summary.done == 20 and summary.failed == len(failures) > 0
    assert all(f["reason"].startswith("planned failure") and f["attempts"] == 2 for f in failures)
    indices = sorted(r["index"] for r in lines(tmp_path / "records.jsonl"))
    assert max(indices) >= 20 and summary.supplement_rounds >= 1
    assert_adds_up(summary, tmp_path)


async def test_supplement_rounds_are_bounded(tmp_path: Path) -> None:
    """With no supplement rounds, failures stay unreplaced and the run ends short."""
    config = make_config(**{"engine.max_supplement_rounds": 0})
    summary = await run(tmp_path, FlakyLocal(config), config)
    assert summary.status == "short" and summary.done == 16 and summary.unreplaced == 4
    assert summary.supplement_rounds == 0
    assert_adds_up(summary, tmp_path)


async def test_rejects_are_recorded_and_replaced(tmp_path: Path) -> None:
    """Rejected items land in rejected.jsonl with their reason and raw text."""
    config = make_config()
    pipeline = LocalPipeline(config)
    pipeline.reject_every = 4
    summary = await run(tmp_path, pipeline, config)
    rejected = lines(tmp_path / "rejected.jsonl")
    assert summary.done == 20 and rejected and rejected[0]["reason"] == "invalid format"
    assert rejected[0]["raw"] == "<garbled>"
    assert_adds_up(summary, tmp_path)


async def test_resume_drops_torn_line_and_generates_only_what_is_missing(tmp_path: Path) -> None:
    """A torn tail is cut, done records are restored, and only the rest are generated."""
    config = make_config(**{"engine.n": 10})
    await run(tmp_path, LocalPipeline(config), config)
    records = tmp_path / "records.jsonl"
    kept = records.read_bytes().splitlines(keepends=True)[:6]
    records.write_bytes(b"".join(kept) + b'{"id": "torn-li')
    config = make_config(**{"engine.n": 12})
    pipeline = LocalPipeline(config)
    summary = await run(tmp_path, pipeline, config)
    ids = [r["id"] for r in lines(records)]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert len(pipeline.restored) == 6 and pipeline.calls == 6
    assert summary.done_before == 6 and summary.torn_bytes_dropped == len(b'{"id": "torn-li')
    assert_adds_up(summary, tmp_path)


async def test_resume_with_a_different_plan_is_refused(tmp_path: Path) -> None:
    """Changing the seed (or the pipeline's plan settings) on resume is a clear StoreError."""
    config = make_config(**{"engine.n": 5})
    await run(tmp_path, LocalPipeline(config), config)
    other = make_config(**{"engine.n": 5, "engine.seed": 7})
    with pytest.raises(StoreError, match=r"different plan \(seed: 0 → 7\)"):
        await run(tmp_path, LocalPipeline(other), other)
    with pytest.raises(StoreError, match="variant"):
        await run(tmp_path, FlakyLocal(config), config)


async def test_resume_with_fewer_than_done_is_refused(tmp_path: Path) -> None:
    """Asking for fewer records than the run already holds is refused, not truncated."""
    config = make_config(**{"engine.n": 6})
    await run(tmp_path, LocalPipeline(config), config)
    smaller = make_config(**{"engine.n": 4})
    with pytest.raises(StoreError, match="already holds 6 records"):
        await run(tmp_path, LocalPipeline(smaller), smaller)


class Counting(LocalPipeline):
    """Sets `reached` once `after` items have produced their outcome.

    The stop and budget tests act on it rather than after a fixed sleep: a pause of the
    test process (a full GC) during the sleep let the run produce nothing before it.
    """

    def __init__(self, config: RunConfig, after: int) -> None:
        super().__init__(config)
        self.after = after
        self.finished = 0
        self.reached = asyncio.Event()

    async def run_item(self, item: WorkItem, ctx: RunContext) -> Outcome:
        outcome = await super().run_item(item, ctx)
        self.finished += 1
        if self.finished >= self.after:
            self.reached.set()
        return outcome


async def test_stop_drains_in_flight_and_writes_summary(tmp_path: Path) -> None:
    """A stop request lets in-flight items finish, then accounts for the rest as not started."""
    config = make_config(**{"engine.n": 200, "engine.grace_period": 5.0})
    pipeline = Counting(config, after=10)
    pipeline.delay = 0.02  # 200 items on 4 workers: 1 s, stopped after the first ten
    shutdown = Shutdown()
    task = asyncio.create_task(run(tmp_path, pipeline, config, shutdown=shutdown))
    await asyncio.wait_for(pipeline.reached.wait(), timeout=30)
    shutdown.request("test stop")
    summary = await task
    assert summary.status == "interrupted" and summary.exit_code == 1
    assert 0 < summary.done < 200 and summary.not_started == 200 - summary.done
    assert_adds_up(summary, tmp_path)
    resumed = await run(tmp_path, LocalPipeline(config), config)
    assert resumed.done == 200 and len({r["id"] for r in lines(tmp_path / "records.jsonl")}) == 200


async def test_second_stop_cancels_in_flight_without_torn_lines(tmp_path: Path) -> None:
    """A forced stop cancels slow items at once; every line written is whole."""
    config = make_config(**{"engine.n": 50, "engine.grace_period": 30.0})
    pipeline = LocalPipeline(config)
    pipeline.delay = 10.0
    shutdown = Shutdown()
    task = asyncio.create_task(run(tmp_path, pipeline, config, shutdown=shutdown))
    await asyncio.sleep(0.2)
    shutdown.request("first")
    shutdown.request("second")
    summary = await asyncio.wait_for(task, timeout=5)
    assert summary.status == "interrupted" and summary.done == 0 and summary.not_started == 50
    assert (tmp_path / "records.jsonl").read_bytes() == b""
    assert_adds_up(summary, tmp_path)


class BudgetClient(ClientBase):
    """A client whose budget is spent after a few items."""

    def __init__(self) -> None:
        self.spent = False

    @property
    def budget_exhausted(self) -> bool:
        return self.spent


async def test_spent_budget_stops_new_items(tmp_path: Path) -> None:
    """Once the transport reports its budget spent, no new item starts and the run says so."""
    config = make_config(**{"engine.n": 100, "engine.max_workers": 2, "engine.queue_size": 1})
    pipeline = Counting(config, after=5)
    pipeline.delay = 0.01
    client = BudgetClient()
    task = asyncio.create_task(run(tmp_path, pipeline, config, client=client))
    await asyncio.wait_for(pipeline.reached.wait(), timeout=30)
    client.spent = True
    summary = await task
    assert summary.status == "budget" and 0 < summary.done < 100
    assert summary.not_started == 100 - summary.done
    assert_adds_up(summary, tmp_path)


async def test_duplicates_are_rejected_by_the_real_gate_and_replaced(tmp_path: Path) -> None:
    """Records whose text repeats an earlier one become 'duplicate' rejects; n still reached."""
    from asyncgen.dedup import create_gate

    config = make_config(**{"engine.n": 12, "dedup.enabled": True, "dedup.embedder": "hashing"})

    class Repeating(LocalPipeline):
        def data(self, item: Any, text: str) -> dict[str, Any]:
            same = "the very same answer every third time" if item.index % 3 == 0 else text
            return super().data(item, same)

    gate = create_gate(config, tmp_path)
    summary = await run(tmp_path, Repeating(config), config, gate=gate)
    rejected = lines(tmp_path / "rejected.jsonl")
    assert summary.done == 12 and summary.dedup_rejects == len(rejected) > 0
    assert all(r["reason"] == "duplicate" and r["nearest_id"] for r in rejected)
    texts = [r["text"] for r in lines(tmp_path / "records.jsonl")]
    assert texts.count("the very same answer every third time") == 1
    assert_adds_up(summary, tmp_path)


async def test_pipeline_exception_becomes_a_failure(tmp_path: Path) -> None:
    """An exception escaping run_item is an `internal_error` failure naming its type."""
    config = make_config(**{"engine.n": 6})

    class Buggy(LocalPipeline):
        async def run_item(self, item: Any, ctx: Any) -> Any:
            if item.index == 2:
                raise KeyError("missing field")
            return await super().run_item(item, ctx)

    summary = await run(tmp_path, Buggy(config), config)
    failures = lines(tmp_path / "failures.jsonl")
    assert summary.done == 6 and len(failures) == 1
    assert failures[0]["reason"] == "internal_error" and failures[0]["index"] == 2
    assert failures[0]["message"].startswith("KeyError")
    assert_adds_up(summary, tmp_path)


async def test_disk_error_stops_the_run_with_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write error (disk full) stops the run: StoreError, and summary.json still says why."""
    import errno
    import os

    real_write = os.write
    written = [0]

    def full_disk(fd: int, data: Any) -> int:
        """Room for five records: a write of several lines lands up to the fifth (a short
        write), the next one fails."""
        data = bytes(data)
        if b'"text"' not in data:
            return real_write(fd, data)
        if written[0] >= 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        lines = data.splitlines(keepends=True)[: 5 - written[0]]
        written[0] += len(lines)
        return real_write(fd, b"".join(lines))

    monkeypatch.setattr("asyncgen.store.jsonl.os.write", full_disk)
    config = make_config(**{"engine.n": 30})
    with pytest.raises(StoreError, match="No space left on device"):
        await run(tmp_path, LocalPipeline(config), config)
    monkeypatch.undo()
    stored = orjson.loads((tmp_path / "summary.json").read_bytes())
    assert stored["status"] == "interrupted" and "No space left" in stored["error"]
    assert stored["done"] == len(lines(tmp_path / "records.jsonl")) == 5


async def test_torn_metrics_line_does_not_break_the_resume(tmp_path: Path) -> None:
    """A kill mid-way through a metrics line is repaired like the records file."""
    config = make_config(**{"engine.n": 4})
    await run(tmp_path, LocalPipeline(config), config)
    with (tmp_path / "metrics.jsonl").open("ab") as out:
        out.write(b'{"session": "x", "cost_')
    config = make_config(**{"engine.n": 6})
    summary = await run(tmp_path, LocalPipeline(config), config)
    assert summary.done == 6 and summary.status == "complete"
    assert all(line for line in lines(tmp_path / "metrics.jsonl"))


class LateChargeClient(ClientBase):
    """A client with a charge still under way when the run ends (a batch part's answers
    being charged), finished only by `settle`."""

    def __init__(self) -> None:
        self._usage = UsageMeter({"m": Price(input=1.0, output=1.0)})

    @property
    def usage(self) -> UsageMeter:
        return self._usage

    async def settle(self) -> None:
        await asyncio.sleep(0.01)
        self._usage.add("m", 1_000_000, 0, kind="late", ref="batch:late")


async def test_a_charge_under_way_at_the_end_reaches_the_ledger(tmp_path: Path) -> None:
    """The engine settles its client before shutting the ledger: the late USD 1.00 is in
    ledger.jsonl, not spent and forgotten."""
    config = make_config(**{"engine.n": 3})
    await run(tmp_path, LocalPipeline(config), config, client=LateChargeClient())
    charges = [line for line in lines(tmp_path / "ledger.jsonl") if line.get("ref")]
    assert [(line["ref"], line["usd"]) for line in charges] == [("batch:late", 1.0)]


async def test_a_snapshot_that_never_reached_the_disk_stops_the_run_before_prepare(
    tmp_path: Path,
) -> None:
    """The CLI writes the run directory's snapshot in the background; the engine waits
    for it before the pipeline prepares (which may send requests): a failed write stops
    the run there, with nothing sent and no outcome file."""
    config = make_config(**{"engine.n": 3})
    prepared: list[bool] = []

    class Watched(LocalPipeline):
        async def prepare(self, ctx: Any) -> None:
            prepared.append(True)

    failed: concurrent.futures.Future[None] = concurrent.futures.Future()
    failed.set_exception(StoreError("cannot write config.json: No space left on device"))
    opened = OpenRun(RunLayout.in_dir(tmp_path, "records.jsonl"), resumed=False, writing=failed)
    with pytest.raises(StoreError, match="No space left"):
        await run(tmp_path, Watched(config), config, opened=opened)
    assert prepared == [] and not (tmp_path / "records.jsonl").exists()
