"""Corrupt input is reported with file:line and never silently dropped; writes are atomic."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from asyncgen import offload
from asyncgen.cli import app
from asyncgen.errors import DatasetError, StoreError
from asyncgen.export import (
    ExportOptions,
    ReadReport,
    TrainingDataCollector,
    TrainingDataExporter,
    TrainingSample,
    export_run,
)
from asyncgen.export.synthetic import interaction_record, write_synthetic_run


def _corrupt_run(tmp_path: Path) -> Path:
    """A 20-record run with a torn line at 21, a non-object at 22 and a bad record at 23."""
    run = tmp_path / "run"
    path = write_synthetic_run(run, 20, personas=4)
    with path.open("ab") as handle:
        handle.write(b'{"id": "torn", "messages": [{"role": "us\n')
        handle.write(b"[1, 2, 3]\n")
        handle.write(b'{"id": "odd", "messages": [{"role": "robot", "content": "hi"}]}\n')
    return run


def test_corrupt_lines_are_reported_with_file_and_line_and_counted(tmp_path: Path) -> None:
    """Each unusable line is named FILE:LINE to the caller and counted in the statistics."""
    run = _corrupt_run(tmp_path)
    told: list[str] = []
    result = export_run(run, ExportOptions(out_dir=tmp_path / "out"), on_problem=told.append)
    records = run / "records.jsonl"
    assert [m.split(": ")[0] for m in told] == [
        f"skipped {records}:21",
        f"skipped {records}:22",
        f"skipped {records}:23",
    ]
    read = result.statistics["input"]
    assert (read["corrupt_lines"], read["invalid_records"]) == (2, 1)
    assert result.statistics["total_samples"] == 20
    saved = json.loads(Path(result.statistics_file).read_text())
    assert saved["input"]["problem_locations"][0].startswith(f"{records}:21: not valid JSON")


def test_strict_fails_on_first_corrupt_line_and_writes_nothing(tmp_path: Path) -> None:
    """--strict raises DatasetError naming file:line before any output file is created."""
    run = _corrupt_run(tmp_path)
    with pytest.raises(DatasetError, match=r"records\.jsonl:21: not valid JSON"):
        export_run(run, ExportOptions(out_dir=tmp_path / "out", strict=True))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_cli_reports_corrupt_lines_and_strict_exits_2(tmp_path: Path) -> None:
    """The CLI prints skipped FILE:LINE lines; with --strict it exits 2 with one error line."""
    run = _corrupt_run(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(app, ["export", str(run), "--out", str(tmp_path / "o"), "--format", "jsonl"])
    assert ok.exit_code == 0, ok.output
    assert "records.jsonl:22: not a JSON object" in ok.stderr
    assert "3 unusable line(s) skipped" in ok.stdout
    env = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "asyncgen", "export", str(run), "--strict"]
    strict = subprocess.run(
        [*cmd, "--out", str(tmp_path / "s")], capture_output=True, text=True, env=env, timeout=60
    )
    assert strict.returncode == 2
    assert strict.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "records.jsonl:21" in strict.stderr


def test_collector_collect_from_run_skips_and_counts(tmp_path: Path) -> None:
    """TrainingDataCollector.collect_from_run skips unusable lines and says how many."""
    report = ReadReport(on_problem=None)
    samples = TrainingDataCollector().collect_from_run(_corrupt_run(tmp_path), report)
    assert len(samples) == 20
    assert report.skipped_lines == 3 and len(report.locations) == 3


def test_missing_run_directory_is_a_store_error(tmp_path: Path) -> None:
    """A run directory without records is one clear error, not a traceback."""
    with pytest.raises(StoreError, match="no such run directory"):
        export_run(tmp_path / "nope", ExportOptions(out_dir=tmp_path / "out"))
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["stats", str(tmp_path / "empty")])
    assert result.exit_code != 0


class _Exploding(list[TrainingSample]):
    """A sample list whose iteration fails half way, like a crash mid-write."""

    def __iter__(self) -> Iterator[TrainingSample]:
        for i, sample in enumerate(list.__iter__(self)):
            if i == len(self) // 2:
                raise RuntimeError("crash mid-write")
            yield sample


def test_crash_mid_write_leaves_no_final_file_and_keeps_the_old_one(tmp_path: Path) -> None:
    """A failure half way leaves neither a half file nor temporaries; an older export survives."""
    run = tmp_path / "run"
    write_synthetic_run(run, 200, personas=20)
    config = {"training_data": {"output_dir": str(tmp_path / "out")}}
    samples = TrainingDataCollector(config).collect_from_run(run)
    exporter = TrainingDataExporter(config)
    formats = ("json", "openai", "parquet", "hf")
    exporter.export_formats(samples[:10], formats, use_timestamp=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    with pytest.raises(RuntimeError, match="crash mid-write"):
        exporter.export_formats(_Exploding(samples), formats, use_timestamp=False)
    after = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}
    assert after == before
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    assert len(json.loads((tmp_path / "out" / "train_samples.json").read_text())) == 10


def test_killed_export_never_leaves_a_half_file_under_the_final_name(tmp_path: Path) -> None:
    """SIGKILL during the write pass leaves only hidden temporaries; the next export cleans them."""
    run = tmp_path / "run"
    write_synthetic_run(run, 12000, personas=300)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "asyncgen", "export", str(run), "--out", str(out)]
    proc = subprocess.Popen([*cmd, "--format", "json,parquet"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        temps = list(out.glob(".train_samples.json.tmp-*")) if out.exists() else []
        if temps and temps[0].stat().st_size > 100_000:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "export finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    names = {p.name for p in out.iterdir()}
    assert not {n for n in names if not n.startswith(".")}, names
    assert any(n.startswith(".train_samples.json.tmp-") for n in names)
    done = subprocess.run([*cmd, "--format", "jsonl"], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    names = {p.name for p in out.iterdir()}
    assert not [n for n in names if n.startswith(".")]
    splits = ("train", "validation", "test")
    lines = sum(len((out / f"{s}_samples.jsonl").read_bytes().splitlines()) for s in splits)
    assert lines == 12000


def test_failed_and_rejected_are_left_out_unless_kept(tmp_path: Path) -> None:
    """Rejected records are counted and left out; --keep-rejected exports those with data."""
    run = tmp_path / "run"
    write_synthetic_run(run, 30, personas=5)
    rejected = interaction_record(99, random.Random(1), 5, 0.0)
    lines = [
        {
            "id": "r1",
            "index": 99,
            "reason": "duplicate",
            "nearest_id": "0-0000001",
            "data": rejected,
        },
        {"id": "r2", "index": 98, "reason": "invalid_format", "raw": "<User> …", "data": None},
    ]
    (run / "rejected.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    failure = {"id": "f1", "index": 97, "reason": "timeout", "attempts": 3}
    (run / "failures.jsonl").write_bytes(orjson.dumps(failure) + b"\n")
    dropped = export_run(run, ExportOptions(out_dir=tmp_path / "a", ratios=None))
    read = dropped.statistics["input"]
    assert (read["failed_records"], read["rejected_records"], read["rejected_kept"]) == (1, 2, 0)
    assert dropped.statistics["total_samples"] == 30
    kept = export_run(run, ExportOptions(out_dir=tmp_path / "b", ratios=None, keep_rejected=True))
    assert kept.statistics["total_samples"] == 31
    samples = json.loads(Path(kept.files["json"]["train"]).read_text())
    extra = [s for s in samples if s["metadata"].get("status") == "rejected"]
    assert len(extra) == 1 and extra[0]["metadata"]["reject_reason"] == "duplicate"


def test_a_line_still_being_written_is_left_out_and_said(tmp_path: Path) -> None:
    """A record appended while export runs is left for later, named, and counted; not corrupt."""
    from asyncgen.export.reader import iter_run

    run = tmp_path / "run"
    path = write_synthetic_run(run, 10, personas=2)
    first_nine = sum(len(x) for x in path.read_bytes().splitlines(keepends=True)[:9])
    told: list[str] = []
    report = ReadReport(on_problem=told.append)
    lines = list(iter_run(run, report, sizes={path: first_nine + 40}))
    assert len(lines) == 9
    assert report.lines_in_progress == 1 and report.skipped_lines == 0
    assert told == [f"left out {path}:10: still being written when export started"]


async def test_export_run_async_runs_off_the_event_loop(tmp_path: Path) -> None:
    """export_run_async gives the same result as export_run, awaited from the loop."""
    from asyncgen.export import export_run_async

    run = tmp_path / "run"
    await offload.to_thread(lambda: write_synthetic_run(run, 40, personas=4))  # test set-up
    result = await export_run_async(run, ExportOptions(out_dir=tmp_path / "o", ratios=None))
    assert result.statistics["total_samples"] == 40
    assert result.files["json"]["train"].endswith("train_samples.json")


def test_only_temporaries_of_dead_exports_are_cleaned(tmp_path: Path) -> None:
    """A dead export's temporary is removed; a live one's and foreign hidden files stay."""
    from asyncgen.store.atomic import remove_stale_temps

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".train_samples.json.tmp-{dead.pid}-abcd1234"
    live = tmp_path / f".train_samples.json.tmp-{os.getppid()}-abcd1234"
    foreign = tmp_path / ".notes.tmp-backup"
    for path in (stale, live, foreign):
        path.write_text("x")
    assert remove_stale_temps(tmp_path) == 1
    assert not stale.exists() and live.exists() and foreign.exists()
