"""The spec's API: sample JSON, statistics keys, file names, and its usage examples as written."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from asyncgen.config import RunConfig, TrainingDataSettings
from asyncgen.errors import ConfigError
from asyncgen.export import TrainingDataCollector, TrainingDataExporter, TrainingSample
from asyncgen.export.synthetic import write_synthetic_run

DOC = Path(__file__).resolve().parent.parent / "docs" / "export.md"
SAMPLE_KEYS = {
    "sample_id", "persona_id", "persona_features", "original_query", "initial_query",
    "prompt_trajectory", "full_conversation", "num_turns", "noisy_initial_queries", "metadata",
}  # fmt: skip
STAT_KEYS = {
    "total_samples", "avg_turns", "avg_trajectory_length", "distractor_stats",
    "persona_distribution", "created_at",
}  # fmt: skip


def _examples() -> list[str]:
    """The python blocks of docs/export.md's "Python API" section, in order."""
    section = DOC.read_text().split("## Python API", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def _run_examples(namespace: dict[str, Any], blocks: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), namespace)
    return out.getvalue()


@pytest.fixture(scope="module")
def simulated_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real interaction run made by `asyncgen generate` on the built-in simulator."""
    run = tmp_path_factory.mktemp("sim") / "run"
    cmd = [sys.executable, "-m", "asyncgen", "generate", "--n", "40", "--out", str(run), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return run


@pytest.mark.parametrize("as_dict", [True, False], ids=["dict-config", "RunConfig"])
def test_spec_usage_examples_run_as_written_on_a_simulator_run(
    simulated_run: Path, tmp_path: Path, as_dict: bool
) -> None:
    """The spec's collect/export/statistics examples run unchanged on `asyncgen generate` output."""
    out = tmp_path / "training"
    config: Any = {"training_data": {"output_dir": str(out)}}
    if not as_dict:
        config = RunConfig(training_data=TrainingDataSettings(output_dir=str(out)))
    namespace = {"config": config, "run_dir": str(simulated_run)}
    printed = _run_examples(namespace, _examples()[:3])
    records = [orjson.loads(x) for x in (simulated_run / "records.jsonl").read_bytes().splitlines()]
    assert f"Collected {len(records)} samples" in printed
    assert re.search(r"Exported to: .*train_samples_\d{8}_\d{6}\.json", printed)
    for split in ("train", "validation", "test"):
        assert (out / f"{split}_samples.json").is_file()
    assert re.search(r"Statistics: .*statistics_\d{8}_\d{6}\.json", printed)
    assert f"Total samples: {len(records)}" in printed
    assert re.search(r"Noise rate: \d+\.\d%", printed)
    exported: list[dict[str, Any]] = []
    for name in ("train", "validation", "test"):
        exported += json.loads((out / f"{name}_samples.json").read_text())
    by_id = {r["interaction_id"]: r for r in records}
    for item in exported:
        assert set(item) == SAMPLE_KEYS
        record = by_id[item["metadata"]["interaction_id"]]
        clean = [m["metadata"].get("clean_content", m["content"]) for m in record["messages"]]
        assert [m["content"] for m in item["full_conversation"]] == clean
    assert len(exported) == len(records)


def test_further_examples_run_on_a_simulator_run(simulated_run: Path, tmp_path: Path) -> None:
    """The doc's extra example (collect_from_run, export_formats, export_run) runs as written."""
    config = {"training_data": {"output_dir": str(tmp_path / "o"), "format": ["openai", "hf"]}}
    printed = _run_examples({"config": config, "run_dir": str(simulated_run)}, _examples()[3:])
    assert "'train':" in printed and "openai" in printed
    assert (tmp_path / "o" / "hf_dataset" / "dataset_dict.json").is_file()


def _hand_made(tmp_path: Path) -> list[dict[str, Any]]:
    run = tmp_path / "run"
    write_synthetic_run(run, 60, personas=12, noise_rate=0.5)
    return [orjson.loads(x) for x in (run / "records.jsonl").read_bytes().splitlines()]


def test_sample_json_matches_the_spec_and_round_trips(tmp_path: Path) -> None:
    """A sample has exactly the spec's keys, and from_dict(to_dict(s)) == s."""
    records = _hand_made(tmp_path)
    collector = TrainingDataCollector({})
    for record in records:
        sample = collector.interaction_to_training_sample(record)
        data = sample.to_dict()
        assert set(data) == SAMPLE_KEYS
        assert TrainingSample.from_dict(json.loads(json.dumps(data))) == sample
        assert sample.num_turns == record["num_turns"]
        assert sample.prompt_trajectory[0] == sample.initial_query
        assert sample.original_query == record["original_query"]
        if record["metadata"]["distractor_applied"]:
            assert sample.noisy_initial_queries[0]["noise_type"] == "surface_noise"
            assert sample.metadata["distractor_applied"] is True


def test_statistics_have_the_spec_keys_and_correct_values(tmp_path: Path) -> None:
    """compute_statistics gives the spec's keys with values recomputed independently here."""
    records = _hand_made(tmp_path)
    moment = datetime(2026, 2, 6, 12, 0, 0)
    exporter = TrainingDataExporter({}, clock=lambda: moment)
    samples = TrainingDataCollector({}).collect_from_interactions(records)
    stats = exporter.compute_statistics(samples)
    assert STAT_KEYS <= set(stats)
    assert stats["total_samples"] == len(records)
    turns = sum(r["num_turns"] for r in records) / len(records)
    assert stats["avg_turns"] == pytest.approx(turns)
    users = sum(sum(m["role"] == "user" for m in r["messages"]) for r in records) / len(records)
    assert stats["avg_trajectory_length"] == pytest.approx(users)
    noisy = sum(r["metadata"]["distractor_applied"] for r in records)
    assert stats["distractor_stats"] == {
        "samples_with_noise": noisy,
        "noise_rate": pytest.approx(noisy / len(records)),
    }
    roles = {r["persona_features"]["role"] for r in records}
    assert set(stats["persona_distribution"]) == roles
    assert sum(stats["persona_distribution"].values()) == len(records)
    assert stats["created_at"] == "2026-02-06T12:00:00"
    assert sum(stats["split"]["realised_ratios"].values()) == pytest.approx(1.0)


def test_file_names_follow_the_spec_with_and_without_timestamp(tmp_path: Path) -> None:
    """train_samples.json etc.; a timestamp adds _YYYYmmdd_HHMMSS from the injected clock."""
    records = _hand_made(tmp_path)
    moment = datetime(2026, 2, 6, 12, 0, 0)
    config = {"training_data": {"output_dir": str(tmp_path / "o")}}
    exporter = TrainingDataExporter(config, clock=lambda: moment)
    samples = TrainingDataCollector(config).collect_from_interactions(records)
    plain = exporter.export_samples(samples, split=True, use_timestamp=False)
    assert {k: Path(v).name for k, v in plain.items()} == {
        "train": "train_samples.json",
        "validation": "validation_samples.json",
        "test": "test_samples.json",
    }
    stamped = exporter.export_samples(samples, split=False, use_timestamp=True)
    assert {k: Path(v).name for k, v in stamped.items()} == {
        "train": "train_samples_20260206_120000.json"
    }
    assert len(json.loads(Path(stamped["train"]).read_text())) == len(records)
    stats_file = Path(exporter.export_statistics(samples))
    assert stats_file.name == "statistics_20260206_120000.json"
    assert STAT_KEYS <= set(json.loads(stats_file.read_text()))


def test_dialogue_records_use_the_same_collector(tmp_path: Path) -> None:
    """A dialogue record becomes one sample whose turns are the conversation."""
    run = tmp_path / "d"
    write_synthetic_run(run, 5, kind="dialogue", personas=3)
    records = [orjson.loads(x) for x in (run / "records.jsonl").read_bytes().splitlines()]
    collector = TrainingDataCollector({})
    samples = collector.collect_from_dialogues(records)
    assert len(samples) == 5
    for sample, record in zip(samples, records, strict=True):
        assert sample.num_turns == len(record["turns"])
        expected = []
        for turn in record["turns"]:
            expected += [
                {"role": "user", "content": turn["user_utterance"]},
                {"role": "assistant", "content": turn["assistant_response"]},
            ]
        assert sample.full_conversation == expected
        assert sample.metadata["base_dialogue_id"] == record["base_dialogue_id"]
    with pytest.raises(Exception, match="not an interaction"):
        collector.interaction_to_training_sample(records[0])


def test_bad_training_config_is_a_config_error() -> None:
    """An unknown key or bad ratio in training_data is a ConfigError naming the key."""
    with pytest.raises(ConfigError, match="training_data.colour"):
        TrainingDataExporter({"training_data": {"colour": "blue"}})
    with pytest.raises(ConfigError, match="split"):
        TrainingDataCollector({"training_data": {"split": {"train": 0.9, "test": 0.9}}})


def test_public_api_is_pinned() -> None:
    """asyncgen.export re-exports the spec's names (and the streaming API) in a sorted __all__."""
    import asyncgen.export as export

    assert export.__all__ == sorted(export.__all__, key=lambda n: (not n.isupper(), n))
    for name in ("TrainingSample", "TrainingDataCollector", "TrainingDataExporter", "export_run"):
        assert name in export.__all__ and hasattr(export, name)


@pytest.fixture(scope="module")
def dialogue_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real dialogue run made by `asyncgen generate --pipeline dialogue` on the simulator."""
    run = tmp_path_factory.mktemp("dlg") / "run"
    cmd = [sys.executable, "-m", "asyncgen", "generate", "--pipeline", "dialogue"]
    cmd += ["--n", "24", "--out", str(run), "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return run


def test_dialogue_run_exports_every_format_without_leaks(
    dialogue_run: Path, tmp_path: Path
) -> None:
    """A simulator dialogue run exports to every format; turns round-trip; no group leaks."""
    from typer.testing import CliRunner

    from asyncgen.cli import app

    out = tmp_path / "out"
    args = ["export", str(dialogue_run), "--out", str(out), "--format", "jsonl,sharegpt,hf"]
    result = CliRunner().invoke(app, [*args, "--split", "0.6,0.2,0.2"])
    assert result.exit_code == 0, result.output
    records = {
        r["dialogue_id"]: r
        for r in map(orjson.loads, (dialogue_run / "records.jsonl").read_bytes().splitlines())
    }
    homes: dict[str, set[str]] = {}
    for split in ("train", "validation", "test"):
        for line in (out / f"{split}_samples.jsonl").read_bytes().splitlines():
            sample = orjson.loads(line)
            record = records[sample["metadata"]["dialogue_id"]]
            users = [t["user_utterance"] for t in record["turns"]]
            assert sample["prompt_trajectory"] == users
            assert (
                sample["full_conversation"][1]["content"]
                == record["turns"][0]["assistant_response"]
            )
            for key in (f"p:{record['persona_id']}", f"b:{record['base_dialogue_id']}"):
                homes.setdefault(key, set()).add(split)
    assert all(len(splits) == 1 for splits in homes.values())
    assert sum(1 for _ in homes) >= len(records)
    datasets = pytest.importorskip("datasets")
    loaded = datasets.load_from_disk(str(out / "hf_dataset"))
    assert sum(len(loaded[s]) for s in loaded) == len(records)


def test_dialogue_noisy_turns_and_versions(tmp_path: Path) -> None:
    """A noised dialogue's twin uses noisy_user_utterance; `noise` fills noisy_initial_queries."""
    run = tmp_path / "d"
    write_synthetic_run(run, 8, kind="dialogue", personas=3)
    records = [orjson.loads(x) for x in (run / "records.jsonl").read_bytes().splitlines()]
    noised = [r for r in records if r["distractor_applied"]]
    collector = TrainingDataCollector({"training_data": {"user_turns": "both"}})
    samples = collector.collect_from_dialogues(records)
    assert len(samples) == len(records) + len(noised)
    by_id = {s.sample_id: s for s in samples}
    record = noised[0]
    twin = by_id[f"sample_{record['dialogue_id']}-noisy"]
    assert twin.full_conversation[0]["content"] == record["turns"][0]["noisy_user_utterance"]
    clean = by_id[f"sample_{record['dialogue_id']}"]
    assert clean.full_conversation[0]["content"] == record["turns"][0]["user_utterance"]
    assert clean.noisy_initial_queries == record["turns"][0]["noise"]
    assert clean.metadata["distractor_applied"] is True


async def test_async_twins_write_the_same_files(tmp_path: Path) -> None:
    """aexport_samples / aexport_statistics (for callers on a loop) write what the sync
    methods write."""
    records = _hand_made(tmp_path)
    moment = datetime(2026, 2, 6, 12, 0, 0)
    config = {"training_data": {"output_dir": str(tmp_path / "o")}}
    exporter = TrainingDataExporter(config, clock=lambda: moment)
    samples = TrainingDataCollector(config).collect_from_interactions(records)
    paths = await exporter.aexport_samples(samples, split=True, use_timestamp=False)
    assert {Path(p).name for p in paths.values()} == {
        "train_samples.json", "validation_samples.json", "test_samples.json",
    }  # fmt: skip
    total = sum(len(_json_at(p)) for p in paths.values())
    assert total == len(records)
    stats = Path(await exporter.aexport_statistics(samples, use_timestamp=False))
    assert stats.name == "statistics.json" and STAT_KEYS <= set(_json_at(stats))


def _json_at(path: str | Path) -> Any:
    """A written JSON file, parsed (blocking: for assertions after the awaited work)."""
    return json.loads(Path(path).read_text())
