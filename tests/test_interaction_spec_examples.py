"""The spec's usage examples, run as written (with `await`) against the built-in simulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asyncgen import offload
from asyncgen.export import TrainingDataCollector, TrainingDataExporter
from asyncgen.interaction import (
    EnhancedPersonaGenerationPipeline,
    InteractionGenerator,
    InteractionStorage,
    create_distractor_model,
)
from asyncgen.sim.embedded import start_simulator

# ruff: noqa: T201  (the spec's examples print; the prints are part of "as written")


def _read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


@pytest.fixture
async def config(tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """A spec-style config dict pointing at a freshly started simulator."""
    async with start_simulator() as sim:
        yield {
            "llm": {"provider": "compatible", "base_url": sim.base_url},
            "interaction_generation": {"retry_delay": 0, "min_turns": 2, "max_turns": 5},
            "distractor": {"enabled": True, "noise_probability": 0.5},
            "training_data": {"output_dir": str(tmp_path / "training")},
        }


async def test_single_interaction_example(config: dict[str, Any], capsys: Any) -> None:
    """interaction_api.md "Single Interaction": a semantic distractor and one interaction."""
    distractor = create_distractor_model(config, use_semantic=True)
    generator = InteractionGenerator(config, distractor=distractor)

    interaction = await generator.generate_interaction(
        persona_id="persona_001",
        persona_features={"role": "engineer", "style": "casual"},
        initial_query="help me with python",
        target_turns=3,
    )

    if interaction:
        print(f"Generated {interaction.num_turns} turns")
        for msg in interaction.messages:
            print(f"{msg.role}: {msg.content[:50]}...")
    await generator.aclose()

    out = capsys.readouterr().out
    assert interaction is not None and f"Generated {interaction.num_turns} turns" in out
    assert 2 <= interaction.num_turns <= 3
    assert out.count("user: ") == interaction.num_turns
    assert interaction.metadata["distractor_type"] == "semantic"


async def test_guide_example_with_original_query(config: dict[str, Any]) -> None:
    """interaction_generation_guide.md "Programmatic Usage": original and adapted query kept."""
    distractor = create_distractor_model(config)
    async with InteractionGenerator(config, distractor=distractor) as generator:
        interaction = await generator.generate_interaction(
            persona_id="persona_001",
            persona_features={"role": "engineer", "style": "casual"},
            initial_query="help me write python code",
            original_query="Help me write Python code",
            target_turns=3,
        )
    assert interaction is not None
    data = interaction.to_dict()
    assert data["original_query"] == "Help me write Python code"
    assert data["initial_query"] == "help me write python code"
    assert data["messages"][0]["metadata"]["is_initial"] is True
    assert data["messages"][1]["metadata"]["model"] == "gpt-4o-mini"


def _training_data_examples(config: dict[str, Any], tmp_path: Path) -> None:
    """training_data_api.md's collect, export and statistics examples, as written."""
    # training_data_api.md: "Collect from Interactions"
    storage = InteractionStorage(str(tmp_path / "output" / "interactions"))
    interactions_data = storage.load_all()
    collector = TrainingDataCollector(config)
    samples = collector.collect_from_interactions(interactions_data)
    print(f"Collected {len(samples)} samples")
    for sample in samples[:3]:
        print(f"ID: {sample.sample_id}")
        print(f"Trajectory: {sample.prompt_trajectory}")
        print(f"Turns: {sample.num_turns}")
    assert len(samples) == 6

    # "Export to Files" and "Compute Statistics"
    exporter = TrainingDataExporter(config)
    files = exporter.export_samples(samples, split=False, use_timestamp=True)
    print(f"Exported to: {files['train']}")
    stats_file = exporter.export_statistics(samples)
    stats = exporter.compute_statistics(samples)
    print(f"Total samples: {stats['total_samples']}")
    print(f"Average turns: {stats['avg_turns']:.1f}")
    print(f"Noise rate: {stats['distractor_stats']['noise_rate']:.1%}")
    assert _read_json(files["train"])
    assert _read_json(stats_file)["total_samples"] == stats["total_samples"] == 6


async def test_batch_storage_and_training_data_examples(
    config: dict[str, Any], tmp_path: Path, capsys: Any
) -> None:
    """Batch generation with storage, then training_data_api.md's collect/export examples."""
    features = {"role": "engineer", "communication_style": "casual", "domain": "software"}
    generator = InteractionGenerator(config, distractor=create_distractor_model(config))
    personas_with_queries = [
        {
            "persona_id": f"persona_00{i}",
            "persona_features": features | {"seniority": level},
            "queries": [
                {"adapted_query": "query1 about csv files", "original_query": "Query 1"},
                {"adapted_query": "query2 about unit tests", "original_query": "Query 2"},
            ],
        }
        for i, level in enumerate(("junior", "senior", "lead"), start=1)
    ]

    storage = InteractionStorage(str(tmp_path / "output" / "interactions"))

    interactions = await generator.generate_interactions_batch(
        personas_with_queries, show_progress=True, max_workers=10, storage=storage
    )
    await generator.aclose()
    print(f"Generated {len(interactions)} interactions")
    success_rate = len(interactions) / 6 * 100
    print(f"Success rate: {success_rate:.1f}%")
    assert len(interactions) == 6 and generator.last_batch.success_rate == 1.0

    # training_data_api.md's examples are synchronous scripts: run them in a worker thread
    await offload.to_thread(_training_data_examples, config, tmp_path)
    index = _read_json(tmp_path / "output" / "interactions" / "index.json")
    assert index["count"] == 6
    assert {e["query_id"] for e in index["interactions"]} >= {
        "persona_001_q001",
        "persona_003_q002",
    }
    assert "Collected 6 samples" in capsys.readouterr().out


async def test_complete_pipeline_example(tmp_path: Path) -> None:
    """training_data_api.md "Complete Pipeline Integration" on a config file, via the simulator."""
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        f"engine:\n  out: {tmp_path / 'run'}\n"
        f"personas:\n  queries_per_persona: 2\n"
        f"interaction_generation:\n  retry_delay: 0\n"
        f"training_data:\n  output_dir: {tmp_path / 'training'}\n"
    )
    # the constructor reads the YAML file (start-up work): async code builds it in a thread
    pipeline = await offload.to_thread(EnhancedPersonaGenerationPipeline, str(config_file))
    result = await pipeline.run(num_personas=6)

    print(f"Samples: {result['training_data']['total_samples']}")
    print(f"Files: {result['training_data']['sample_files']}")
    assert result["interactions"]["total"] == 12
    assert result["interactions"]["simulated"] is True
    assert result["personas"] == 6
    assert result["queries"] == 18  # 2 per persona + the 20 % spare share, rounded up
    assert result["training_data"]["total_samples"] >= 12
    run = tmp_path / "run"
    for name in ("personas.jsonl", "queries.jsonl", "records.jsonl", "index.json", "summary.json"):
        assert (run / name).is_file(), name
