"""`asyncgen extract`: the report's single-dialogue extraction test from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from asyncgen.cli import app
from asyncgen.cli.errors import run_cli
from asyncgen.dialogue.synthetic import write_multiwoz


def test_extract_prints_the_dialogue_and_its_base_conversation() -> None:
    """`extract --index 3` shows the id, counts and the USER:/ASSISTANT: conversation."""
    result = CliRunner().invoke(app, ["extract", "--index", "3"])
    assert result.exit_code == 0, result.output
    assert "dialogue_id: AGS-SNG-0004.json (index 3)" in result.output
    assert "speakers: 2" in result.output
    assert "USER: Hello, I ordered a takeaway" in result.output
    assert "ASSISTANT: I'm sorry about the wait." in result.output


def test_extract_reads_a_given_dataset_as_json(tmp_path: Path) -> None:
    """--dataset-path and --json give one JSON object for that file's dialogue."""
    path = write_multiwoz(tmp_path / "d.jsonl", 5, seed=1)
    result = CliRunner().invoke(app, ["extract", "-i", "4", "--dataset-path", str(path), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.output)
    assert found["dialogue_id"] == "SYN000004.json"
    assert found["turns"] == len(found["base_conversation"].splitlines())
    assert len(found["sha256"]) == 64


def test_index_out_of_range_is_one_line_and_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An index past the dataset prints one clear line naming the size and exits 2."""
    monkeypatch.setattr(sys, "argv", ["asyncgen", "extract", "--index", "50"])
    assert run_cli(app) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: index 50 is out of range")
    assert "has 50 dialogues (valid: 0..49)" in err
    assert len(err.splitlines()) == 1


def test_generate_dialogue_honours_the_report_options(tmp_path: Path) -> None:
    """`generate --pipeline dialogue` with the report's options (its --total_generations
    spelling too) yields matching records."""
    from asyncgen.dialogue.audit import audit_run

    dataset = write_multiwoz(tmp_path / "d.parquet", 80, seed=2)
    out = tmp_path / "run"
    args = [
        "generate", "--pipeline", "dialogue", "--total_generations", "30", "--out", str(out),
        "--quiet",
        "--dataset-path", str(dataset), "--min-turns", "3", "4", "--max-turns", "5", "6",
        "--temperature", "0.5", "0.6", "--top-p", "0.9", "--similarity-threshold", "0.95",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    audit = audit_run(out)
    assert audit.records == 30 and audit.out_of_range == 0 and audit.reused_bases == 0
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    for record in records:
        gen = record["generation_params"]
        assert 3 <= gen["min_turns"] <= 4 and gen["min_turns"] <= gen["max_turns"] <= 6
        assert gen["temperature"] in (0.5, 0.6) and gen["top_p"] == 0.9
        assert 3 <= len(record["turns"]) <= 6 and record["simulated"] is True
    snapshot = json.loads((out / "config.json").read_text())
    assert snapshot["dedup"]["threshold"] == 0.95
