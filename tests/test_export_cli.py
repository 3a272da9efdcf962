"""`asyncgen export` and `asyncgen stats` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from asyncgen.cli import app
from asyncgen.errors import ConfigError
from asyncgen.export import ExportOptions, export_run
from asyncgen.export.synthetic import write_synthetic_run

runner = CliRunner()


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A 400-record interaction run over 40 personas."""
    path = tmp_path / "run"
    write_synthetic_run(path, 400, personas=40, noise_rate=0.4)
    return path


def test_export_writes_each_format_per_split_and_prints_a_table(run: Path, tmp_path: Path) -> None:
    """--format openai,sharegpt,parquet --split 0.7,0.2,0.1 writes nine files and statistics."""
    out = tmp_path / "out"
    args = ["export", str(run), "--format", "openai,sharegpt,parquet", "--split", "0.7,0.2,0.1"]
    result = runner.invoke(app, [*args, "--out", str(out), "--system-prompt", "Be brief."])
    assert result.exit_code == 0, result.output
    assert "Exported 400 samples" in result.stdout
    names = sorted(p.name for p in out.iterdir())
    for split in ("train", "validation", "test"):
        assert {f"{split}_openai.jsonl", f"{split}_sharegpt.jsonl"} <= set(names)
        assert f"{split}_samples.parquet" in names
    stats = json.loads((out / "statistics.json").read_text())
    assert stats["split"]["configured_ratios"] == {"train": 0.7, "validation": 0.2, "test": 0.1}
    rows = sum(
        pq.read_metadata(out / f"{s}_samples.parquet").num_rows for s in stats["split"]["samples"]
    )
    assert rows == 400
    first = json.loads((out / "train_openai.jsonl").read_text().splitlines()[0])
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}


def test_no_split_and_user_turns_both(run: Path, tmp_path: Path) -> None:
    """--no-split writes one train file; --user-turns both adds the noisy twins."""
    out = tmp_path / "out"
    args = ["export", str(run), "--no-split", "--format", "jsonl", "--user-turns", "both"]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["statistics.json", "train_samples.jsonl"]
    lines = (out / "train_samples.jsonl").read_text().splitlines()
    stats = json.loads((out / "statistics.json").read_text())
    assert len(lines) == stats["total_samples"] > 400
    assert stats["samples_by_user_turns"]["noisy"] == len(lines) - 400


def test_stats_prints_a_table_and_json(run: Path) -> None:
    """`stats` shows the figures as a table; --json gives the statistics with the spec's keys."""
    table = runner.invoke(app, ["stats", str(run)], env={"COLUMNS": "120"})
    assert table.exit_code == 0, table.output
    assert "Training data statistics" in table.stdout
    assert "noise rate" in table.stdout and "Group-wise split" in table.stdout
    as_json = runner.invoke(app, ["stats", str(run), "--json"])
    figures = json.loads(as_json.stdout)
    assert figures["total_samples"] == 400
    assert {"avg_turns", "avg_trajectory_length", "distractor_stats"} <= set(figures)
    assert figures["input"]["records_read"] == 400


def test_stats_matches_what_export_writes(run: Path, tmp_path: Path) -> None:
    """The stats command's figures equal the statistics an export writes for the same run."""
    shown = json.loads(runner.invoke(app, ["stats", str(run), "--json"]).stdout)
    written = export_run(run, ExportOptions(out_dir=tmp_path / "o")).statistics
    for key in ("total_samples", "avg_turns", "distractor_stats", "persona_distribution"):
        assert shown[key] == written[key]
    assert shown["split"]["samples"] == written["split"]["samples"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--split", "0.5,0.6,0.1"], "split ratios must be three non-negative numbers"),
        (["--split", "a,b"], "--split wants three numbers"),
        (["--format", "openai,csv"], "unknown export format(s) csv"),
        (["--user-turns", "loud"], "--user-turns must be one of"),
    ],
)
def test_bad_options_exit_2_with_one_line(
    run: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    """Bad ratios, formats or user-turn modes print one `error:` line and exit 2."""
    cmd = [sys.executable, "-m", "asyncgen", "export", str(run), "--out", str(tmp_path / "o")]
    done = subprocess.run(
        [*cmd, *extra], capture_output=True, text=True, timeout=60, env={**os.environ}
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert message in done.stderr
    assert not (tmp_path / "o").exists()


def test_hf_without_datasets_names_the_extra(
    run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asking for the hf format without `datasets` installed is a clear error, nothing written."""
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ConfigError, match=r"asyncgen\[hf\]"):
        export_run(run, ExportOptions(out_dir=tmp_path / "o", formats=("jsonl", "hf")))
    assert not (tmp_path / "o").exists()
