"""The run directory: writable or a clear error, the plan check, the snapshot and the index."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
from engine_support import LocalPipeline

from asyncgen.config import load_config
from asyncgen.engine import Record
from asyncgen.errors import StoreError
from asyncgen.store import (
    RunLayout,
    check_plan,
    plan_record,
    prepare_run_dir,
    snapshot_config,
    write_index,
)
from asyncgen.store.rundir import open_run, open_run_in_background


def test_unwritable_run_directory_is_a_store_error(tmp_path: Path) -> None:
    """A run directory below a regular file cannot be created: one clear line."""
    (tmp_path / "file").write_text("x")
    layout = RunLayout.in_dir(tmp_path / "file" / "run", "records.jsonl")
    with pytest.raises(StoreError, match=r"cannot write to .*file/run"):
        prepare_run_dir(layout)


def test_plan_is_recorded_then_checked(tmp_path: Path) -> None:
    """A new run records its plan; the same plan resumes; another is refused naming the key."""
    layout = RunLayout.in_dir(tmp_path, "records.jsonl")
    plan = plan_record("dialogue", 1, {"dialogue": {"min_turns": (5, 10)}}, 100)
    assert check_plan(layout, plan) is False
    assert check_plan(layout, plan_record("dialogue", 1, {"dialogue": {"min_turns": [5, 10]}}, 200))
    changed = plan_record("dialogue", 1, {"dialogue": {"min_turns": [6, 10]}}, 100)
    with pytest.raises(StoreError, match=r"dialogue\.min_turns: \[5, 10\] → \[6, 10\]"):
        check_plan(layout, changed)


def test_records_without_a_plan_are_not_adopted(tmp_path: Path) -> None:
    """A folder with records but no plan.json is not silently resumed."""
    (tmp_path / "records.jsonl").write_text('{"id": "a"}\n')
    layout = RunLayout.in_dir(tmp_path, "records.jsonl")
    with pytest.raises(StoreError, match="not a run directory"):
        check_plan(layout, plan_record("x", 0, {}, 1))


def test_snapshot_redacts_secrets(tmp_path: Path) -> None:
    """The config snapshot never holds a key."""
    config = load_config(None, {"sim.api_key": "sk-secret-123"}, environ={}, env_file=None)
    layout = RunLayout.in_dir(tmp_path, "records.jsonl")
    snapshot_config(layout, config)
    text = layout.config.read_text()
    assert "sk-secret-123" not in text and orjson.loads(text)["sim"]["api_key"] == "***"


def test_index_has_the_spec_shape(tmp_path: Path) -> None:
    """index.json: the entries under the pipeline's key, a count and last_updated."""
    records = tmp_path / "records.jsonl"
    records.write_bytes(b"".join(orjson.dumps({"id": f"r{i}", "n": i}) + b"\n" for i in range(3)))

    def entry(record: Record) -> dict[str, object]:
        return {"interaction_id": record.id, "num_turns": record.data["n"]}

    count = write_index(records, tmp_path / "index.json", "interactions", entry, "2026-01-01")
    index = orjson.loads((tmp_path / "index.json").read_bytes())
    assert count == 3 and index["count"] == 3 and index["last_updated"] == "2026-01-01"
    assert index["interactions"][2] == {"interaction_id": "r2", "num_turns": 2}


def test_index_of_an_empty_run(tmp_path: Path) -> None:
    """No records still gives valid JSON with an empty list."""
    write_index(tmp_path / "none.jsonl", tmp_path / "index.json", "records", dict, "t")
    assert orjson.loads((tmp_path / "index.json").read_bytes())["records"] == []


def test_a_background_open_writes_what_open_run_writes(tmp_path: Path) -> None:
    """The CLI's `open_run_in_background` leaves the same plan.json and config.json as
    `open_run` once settled, and no temporary file beside them."""
    config = load_config(None, {"sim.api_key": "sk-secret-123"}, environ={}, env_file=None)
    pipeline = LocalPipeline(config)
    here = open_run(RunLayout.in_dir(tmp_path / "a", "records.jsonl"), pipeline, config)
    there = open_run_in_background(
        RunLayout.in_dir(tmp_path / "b", "records.jsonl"), pipeline, config
    )
    asyncio.run(there.settled())
    assert (here.resumed, there.resumed) == (False, False)
    for name in ("plan.json", "config.json"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["config.json", "plan.json"]


def test_a_background_write_that_fails_is_raised_when_settled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A snapshot the disk refused is an error of `settled` (the engine waits for it
    before anything is sent), never a run that goes on without one."""
    config = load_config(None, {}, environ={}, env_file=None)

    def full(path: Path, data: bytes, *, sync_dir: bool = True) -> Path:
        raise StoreError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr("asyncgen.store.rundir.write_bytes_atomic", full)
    opened = open_run_in_background(
        RunLayout.in_dir(tmp_path, "records.jsonl"), LocalPipeline(config), config
    )
    with pytest.raises(StoreError, match="plan.json: No space left"):
        asyncio.run(opened.settled())


def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path: Path) -> None:
    """Without --out, a second run in the same second (a script's next line) is a new run,
    not a resume refused for its other settings (the README's commands met this)."""
    from datetime import UTC, datetime

    from asyncgen.store import default_run_dir

    now = datetime(2026, 12, 7, 20, 22, 3, tzinfo=UTC)
    first = default_run_dir("interaction", now, tmp_path)
    assert first == tmp_path / "interaction-20261207-202203"
    first.mkdir()
    second = default_run_dir("interaction", now, tmp_path)
    second.mkdir()
    third = default_run_dir("interaction", now, tmp_path)
    assert [second.name, third.name] == [
        "interaction-20261207-202203-2",
        "interaction-20261207-202203-3",
    ]
