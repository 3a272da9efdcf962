"""Export formats: each file loads with its users' library and the conversation round-trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from asyncgen.export import (
    ExportOptions,
    TrainingSample,
    export_run,
    row_sample,
)
from asyncgen.export.synthetic import write_synthetic_run

SYSTEM = "You are a patient assistant."


def _records(run: Path) -> dict[str, dict[str, Any]]:
    lines = (run / "records.jsonl").read_bytes().splitlines()
    return {f"sample_{r['interaction_id']}": r for r in map(orjson.loads, lines)}


def _expected_conversation(record: dict[str, Any]) -> list[dict[str, str]]:
    """The clean conversation of an interaction record, computed independently."""
    out = []
    for m in record["messages"]:
        content = m["metadata"].get("clean_content", m["content"])
        out.append({"role": m["role"], "content": content})
    return out


@pytest.fixture
def exported(tmp_path: Path) -> tuple[Path, dict[str, dict[str, str]], dict[str, dict[str, Any]]]:
    """A 300-record interaction run exported to every format with a system prompt."""
    run = tmp_path / "run"
    write_synthetic_run(run, 300, personas=30, noise_rate=0.5)
    options = ExportOptions(
        out_dir=tmp_path / "out",
        formats=("json", "jsonl", "openai", "sharegpt", "parquet", "hf"),
        system_prompt=SYSTEM,
    )
    result = export_run(run, options)
    return tmp_path / "out", result.files, _records(run)


def test_spec_json_loads_with_json_and_round_trips(exported: Any) -> None:
    """The spec JSON files are JSON arrays of samples whose conversations match the run."""
    _, files, records = exported
    seen = 0
    for path in files["json"].values():
        for item in json.loads(Path(path).read_text()):
            sample = TrainingSample.from_dict(item)
            assert sample.full_conversation == _expected_conversation(records[sample.sample_id])
            assert sample.prompt_trajectory == [
                m["content"] for m in sample.full_conversation if m["role"] == "user"
            ]
            seen += 1
    assert seen == len(records)


def test_jsonl_round_trips_through_from_dict(exported: Any) -> None:
    """JSONL holds the same samples, one per line, equal to the JSON array's."""
    _, files, _ = exported
    for split, path in files["jsonl"].items():
        lines = [
            TrainingSample.from_dict(json.loads(x)) for x in Path(path).read_text().splitlines()
        ]
        array = [
            TrainingSample.from_dict(x) for x in json.loads(Path(files["json"][split]).read_text())
        ]
        assert lines == array


def test_openai_chat_format_has_only_messages_led_by_system(exported: Any) -> None:
    """OpenAI fine-tuning lines are {"messages": [...]} with the system message first."""
    _, files, records = exported
    for path in files["openai"].values():
        for line in Path(path).read_text().splitlines():
            item = json.loads(line)
            assert list(item) == ["messages"]
            messages = item["messages"]
            assert messages[0] == {"role": "system", "content": SYSTEM}
            assert messages[1]["role"] == "user" and messages[-1]["role"] == "assistant"
            assert all(set(m) == {"role", "content"} for m in messages)
    first = json.loads(Path(files["openai"]["train"]).read_text().splitlines()[0])
    contents = [m["content"] for m in first["messages"][1:]]
    assert any(
        contents == [m["content"] for m in _expected_conversation(r)] for r in records.values()
    )


def test_sharegpt_uses_from_value_with_human_and_gpt(exported: Any) -> None:
    """ShareGPT lines carry conversations of from/value with system, human and gpt."""
    _, files, records = exported
    for path in files["sharegpt"].values():
        for line in Path(path).read_text().splitlines():
            item = json.loads(line)
            turns = item["conversations"]
            assert turns[0] == {"from": "system", "value": SYSTEM}
            roles = {"human": "user", "gpt": "assistant"}
            back = [{"role": roles[t["from"]], "content": t["value"]} for t in turns[1:]]
            assert back == _expected_conversation(records[item["id"]])


def test_parquet_loads_with_pyarrow_and_round_trips(exported: Any) -> None:
    """Parquet files read with pyarrow give back the samples and a typed messages column."""
    _, files, records = exported
    total = 0
    for split, path in files["parquet"].items():
        table = pq.read_table(path)
        assert table.schema.field("full_conversation").type.value_type.names == ["role", "content"]
        rows = table.to_pylist()
        total += len(rows)
        array = [
            TrainingSample.from_dict(x) for x in json.loads(Path(files["json"][split]).read_text())
        ]
        assert [row_sample(r) for r in rows] == array
        for row in rows:
            assert row["messages"][0] == {"role": "system", "content": SYSTEM}
            assert row["messages"][1:] == _expected_conversation(records[row["sample_id"]])
    assert total == len(records)


def test_hf_folder_loads_with_datasets_load_from_disk(exported: Any) -> None:
    """The Hugging Face folder opens with datasets.load_from_disk, one split per name."""
    datasets = pytest.importorskip("datasets")
    _, files, records = exported
    loaded = datasets.load_from_disk(files["hf"]["dataset"])
    assert set(loaded) == {"train", "validation", "test"}
    assert sum(len(loaded[s]) for s in loaded) == len(records)
    row = loaded["train"][0]
    assert row["full_conversation"] == _expected_conversation(records[row["sample_id"]])
    assert row["messages"][0]["role"] == "system"


def test_noisy_and_both_user_turns(tmp_path: Path) -> None:
    """`noisy` uses the distractor's text; `both` adds a noisy twin per noised record."""
    run = tmp_path / "run"
    write_synthetic_run(run, 100, personas=10, noise_rate=0.5)
    records = list(map(orjson.loads, (run / "records.jsonl").read_bytes().splitlines()))
    noised = [r for r in records if r["metadata"]["distractor_applied"]]
    assert noised
    both = export_run(run, ExportOptions(out_dir=tmp_path / "both", ratios=None, user_turns="both"))
    samples = json.loads(Path(both.files["json"]["train"]).read_text())
    assert len(samples) == len(records) + len(noised)
    by_id = {s["sample_id"]: s for s in samples}
    record = noised[0]
    twin = by_id[f"sample_{record['interaction_id']}-noisy"]
    assert twin["full_conversation"][0]["content"] == record["messages"][0]["content"]
    clean = by_id[f"sample_{record['interaction_id']}"]
    assert (
        clean["full_conversation"][0]["content"]
        == record["messages"][0]["metadata"]["clean_content"]
    )
    noisy = export_run(
        run, ExportOptions(out_dir=tmp_path / "noisy", ratios=None, user_turns="noisy")
    )
    assert noisy.statistics["total_samples"] == len(records)
    assert noisy.statistics["samples_by_user_turns"]["noisy"] == len(noised)
